using System.Text;
using System.Text.Json.Nodes;
using Dynamo.Contracts;
using Dynamo.Engine.Model;
using Dynamo.Planner;
using Dynamo.Planner.Connectors;
using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Dynamo.Cli.Tests;

/// <summary>
/// The local connector with real <c>dynamo worker</c> processes on a real nats-server: they start, register in NATS
/// discovery and serve (signed requests), and a scale-down drains one with SIGTERM: it leaves discovery and exits 0.
/// </summary>
public sealed class LocalConnectorTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-planner-local-").FullName;
    private NatsServer _nats = null!;
    private NatsRuntime _runtime = null!;
    private string _model = null!;

    public async Task InitializeAsync()
    {
        _nats = await NatsServer.StartNewAsync();
        _runtime = await NatsRuntime.ConnectAsync(new NatsOptions { Url = _nats.Url }, TestSecret.Secret, NullLoggerFactory.Instance);
        _model = Path.Combine(_dir, "model");
        await ModelWriter.WriteAsync(_model, ModelPreset.Tiny, seed: 0);
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        await _nats.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task WorkerProcesses_StartRegisterServe_AndStopCleanlyOnScaleDown()
    {
        // The connector's log (starts, drains, a worker's last output lines when it exits) goes to the test's output.
        using var logs = TestOutputLoggerProvider.Factory(output);
        var connector = new LocalWorkerConnector(
            new LocalWorkerLaunch
            {
                Executable = "dotnet",
                LeadingArguments = [Path.Combine(AppContext.BaseDirectory, "dynamo.dll")],
                WorkerArguments = ["--nats", _nats.Url, "--cluster-secret-file", TestSecret.File, "--engine", "mocker", "--model", _model, "--served-model-name", "tiny"],
                Environment = new Dictionary<string, string> { ["DYNAMO__MOCKER__ZERODELAY"] = "true", ["DYNAMO_CACHE_DIR"] = _dir },
                StopTimeout = TimeSpan.FromSeconds(30),
            },
            _runtime.Discovery,
            new Dictionary<WorkerRole, int> { [WorkerRole.Aggregated] = 2 },
            logs.CreateLogger<LocalWorkerConnector>());
        await using (connector)
        {
            connector.Reconcile();
            Assert.Equal(2, connector.Processes.Count);

            var pools = await UntilAsync(() => connector.GetPoolsAsync(CancellationToken.None), p => p.Single().Ready == 2, "both workers to register in NATS discovery");
            Assert.Equal(new PoolState(WorkerRole.Aggregated, 2, 2, 2), pools.Single());
            var ids = connector.Processes.Select(p => p.InstanceId).Order().ToList();
            Assert.Equal(ids, _runtime.Discovery.GetInstances().Select(i => i.InstanceId).Order());
            Assert.All(ids, id => Assert.StartsWith("aggregated-", id));

            // Each serves a signed request.
            foreach (var instance in _runtime.Discovery.GetInstances())
            {
                Assert.Equal(WorkerRole.Aggregated, instance.Role);
                Assert.Equal("length", await CompleteAsync(instance.Address));
            }

            // Scale down: one worker gets SIGTERM, leaves discovery, drains and exits 0; the other keeps serving.
            await connector.SetTargetsAsync(new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Aggregated] = 1 }, "test: scale down"), CancellationToken.None);
            Assert.Equal(new PoolState(WorkerRole.Aggregated, 1, 1, 1), (await connector.GetPoolsAsync(CancellationToken.None)).Single());
            await UntilAsync(() => Task.FromResult(connector.Exited), e => e.Count == 1, "the drained worker to exit");
            var stopped = connector.Exited.Single();
            Assert.Equal(0, stopped.ExitCode);
            Assert.True(stopped.Drained);
            await UntilAsync(() => Task.FromResult(_runtime.Discovery.GetInstances()), i => i.Count == 1, "the drained worker to leave discovery");
            var remaining = Assert.Single(_runtime.Discovery.GetInstances());
            Assert.NotEqual(stopped.InstanceId, remaining.InstanceId);
            Assert.Equal("length", await CompleteAsync(remaining.Address));

            // Scale up again: a new process joins.
            await connector.SetTargetsAsync(new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Aggregated] = 2 }, "test: scale up"), CancellationToken.None);
            await UntilAsync(() => connector.GetPoolsAsync(CancellationToken.None), p => p.Single().Settled, "the new worker to register");
        }

        // Disposal drains every worker the connector started: all exit 0 and leave discovery.
        Assert.Equal(3, connector.Exited.Count);
        Assert.All(connector.Exited, e => Assert.Equal((0, true), (e.ExitCode, e.Drained)));
        await UntilAsync(() => Task.FromResult(_runtime.Discovery.GetInstances()), i => i.Count == 0, "every worker to leave discovery");
    }

    private static async Task<string?> CompleteAsync(Uri worker)
    {
        using var client = TestSecret.WorkerClient(worker, TimeSpan.FromSeconds(30));
        using var response = await client.PostAsync("v1/completions", new StringContent(
            """{"model":"tiny","prompt":"hello","max_tokens":4,"ignore_eos":true}""", Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{worker}: HTTP {(int)response.StatusCode} {body}");
        return (string?)JsonNode.Parse(body)!["choices"]![0]!["finish_reason"];
    }

    private static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(100);
        }
    }
}
