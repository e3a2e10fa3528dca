using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Contracts;
using Dynamo.Engine.Model;
using Dynamo.Planner;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Cli.Tests;

/// <summary>
/// The embedded connector on a real embedded cluster (mocker engine at its real pace, HTTP through the gateway): pools
/// grow with workers that serve, and shrink under streaming load without losing a request.
/// </summary>
public sealed class EmbeddedConnectorTests : IAsyncLifetime
{
    /// <summary>About 2 s of stream at the mocker's pace: the scale-down begins while every stream is mid-way.</summary>
    private const int StreamTokens = 160;

    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-planner-embedded-").FullName;
    private EmbeddedCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        var model = Path.Combine(_dir, "model");
        await ModelWriter.WriteAsync(model, ModelPreset.Tiny, seed: 0);
        var settings = ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:Port"] = "0",
            ["Dynamo:Serve:Engine"] = "mocker",
            ["Dynamo:Serve:Model"] = model,
            ["Dynamo:Serve:ServedModelName"] = "tiny",
            ["Dynamo:Serve:Mode"] = "disagg",
            ["Dynamo:Serve:PrefillWorkers"] = "2",
            ["Dynamo:Serve:DecodeWorkers"] = "3",
            ["Dynamo:Mocker:ZeroDelay"] = "false",
        }, environment: new Dictionary<string, string?>()));
        _cluster = await EmbeddedCluster.StartAsync(settings, NullLoggerFactory.Instance);
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task ScaleDownUnderStreamingLoad_LosesNoRequest()
    {
        await using var connector = new EmbeddedScalingConnector(_cluster, [WorkerRole.Prefill, WorkerRole.Decode], NullLogger.Instance);
        Assert.Equal([new PoolState(WorkerRole.Prefill, 2, 2, 2), new PoolState(WorkerRole.Decode, 3, 3, 3)], await connector.GetPoolsAsync(CancellationToken.None));
        using var client = new HttpClient { BaseAddress = _cluster.Address, Timeout = TimeSpan.FromSeconds(60) };

        // Streams on every decode worker, all mid-way when the pools shrink.
        var started = Enumerable.Range(0, 12).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var streams = started.Select(s => CompletionStreams.RunAsync(client, StreamTokens, s)).ToArray();
        await Task.WhenAll(started.Select(s => s.Task)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(_cluster.Workers.Where(w => w.Instance.Role == WorkerRole.Decode), w => Assert.True(w.InflightRequests > 0, $"{w.Instance.InstanceId} has no stream"));
        var leaving = _cluster.Workers.Where(w => w.Instance.Role == WorkerRole.Decode).Skip(1).ToList();

        await connector.SetTargetsAsync(new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Prefill] = 1, [WorkerRole.Decode] = 1 }, "test: scale down"), CancellationToken.None);

        // Out of discovery at once, still draining: no longer counted, while their streams go on.
        await WaitAsync(() => _cluster.Discovery.GetInstances().Count == 2, "the leaving workers to leave discovery");
        Assert.Contains(leaving, w => w.IsDraining && w.InflightRequests > 0);
        Assert.Equal(new PoolState(WorkerRole.Decode, 1, 1, 1), (await connector.GetPoolsAsync(CancellationToken.None)).Single(p => p.Role == WorkerRole.Decode));

        // Requests arriving during the scale-down go to the workers that stay.
        var during = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => CompletionStreams.RunAsync(client, 8)));
        var results = await Task.WhenAll(streams);

        Assert.All(results.Concat(during).Select((r, i) => (r, i)), x => Assert.True(x.r.IsComplete(x.i < results.Length ? StreamTokens : 8), $"stream {x.i}: {x.r}"));
        Assert.All(leaving, w => Assert.Equal(0, w.InflightRequests));
        Assert.Equal(2, _cluster.Workers.Count);
    }

    [Fact]
    public async Task ScaleUp_AddsWorkersThatRegisterAndServe()
    {
        await using var connector = new EmbeddedScalingConnector(_cluster, [WorkerRole.Prefill, WorkerRole.Decode], NullLogger.Instance);

        await connector.SetTargetsAsync(new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Decode] = 5 }, "test: scale up"), CancellationToken.None);
        await WaitAsync(async () => (await connector.GetPoolsAsync(CancellationToken.None)).Single(p => p.Role == WorkerRole.Decode).Settled, "the decode pool to reach 5 ready");

        var added = _cluster.Workers.Where(w => w.Instance.Role == WorkerRole.Decode).Skip(3).ToList();
        Assert.Equal(2, added.Count);
        Assert.All(added, w => Assert.Contains(_cluster.Discovery.GetInstances(), i => i.InstanceId == w.Instance.InstanceId));
        Assert.Equal(new PoolState(WorkerRole.Prefill, 2, 2, 2), (await connector.GetPoolsAsync(CancellationToken.None)).Single(p => p.Role == WorkerRole.Prefill));

        // The grown cluster serves as before.
        using var client = new HttpClient { BaseAddress = _cluster.Address, Timeout = TimeSpan.FromSeconds(60) };
        var results = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => CompletionStreams.RunAsync(client, 40)));
        Assert.All(results, r => Assert.True(r.IsComplete(40), r.ToString()));

        await Assert.ThrowsAsync<ArgumentException>(() => connector.SetTargetsAsync(
            new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Aggregated] = 1 }, "no such pool"), CancellationToken.None));
    }

    private static Task WaitAsync(Func<bool> condition, string what) => WaitAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}
