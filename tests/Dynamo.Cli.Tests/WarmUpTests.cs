using System.Collections.Concurrent;
using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Contracts;
using Dynamo.Engine.Model;
using Dynamo.Llm;
using Dynamo.Router.Kv;
using Dynamo.Runtime.Observability;
using Dynamo.Runtime.Security;
using Dynamo.Worker;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Tests;

/// <summary>
/// The warm-up pass (<c>Dynamo:Serve:WarmUp</c>) on a real embedded cluster (the .NET engine, tiny model, disagg): it
/// runs before the workers and the gateway start, and leaves nothing in their metrics or in the router's load; off,
/// it does not run. The worker process's pass (<see cref="WarmUp.WorkerAsync"/>) on its own. No timing is asserted.
/// </summary>
public sealed class WarmUpTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-warmup-").FullName;
    private string _model = null!;

    public async Task InitializeAsync()
    {
        _model = Path.Combine(_dir, "model");
        await ModelWriter.WriteAsync(_model, ModelPreset.Tiny, seed: 0);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task WarmUp_RunsBeforeReady_AndLeavesNoMetricsNorLoad()
    {
        var logs = new Capture();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        await using var cluster = await EmbeddedCluster.StartAsync(Settings(warmUp: null), loggerFactory);

        // Chat and completions, streamed and whole, twice; all answered (a failed request would have failed the pass).
        Assert.Equal(8, cluster.WarmUp?.Requests);
        var lines = logs.Lines.ToList();
        var warmedUp = lines.FindIndex(l => l.StartsWith("Warm-up took", StringComparison.Ordinal));
        Assert.True(lines.FindIndex(l => l.StartsWith("Warming up: 8 requests", StringComparison.Ordinal)) is >= 0 and var warming && warming < warmedUp, string.Join('\n', lines));
        Assert.DoesNotContain(lines, l => l.StartsWith("Warm-up failed", StringComparison.Ordinal));

        // Every real host started after it: the workers (in discovery, /health ready) and the gateway.
        Assert.All(new[] { "Worker prefill-0 (Prefill) serving", "Worker decode-0 (Decode) serving", "Gateway on " },
            start => Assert.True(lines.FindIndex(l => l.StartsWith(start, StringComparison.Ordinal)) > warmedUp, $"'{start}' logged before the warm-up ended:\n{string.Join('\n', lines)}"));

        // Nothing counted: the gateway's and the workers' request metrics are empty, the router carries no load.
        Assert.Equal(0, cluster.Traffic().FinishedRequests);
        Assert.DoesNotContain(MetricNames.FrontendRequestsTotal + "{", await GetAsync(cluster.AdminAddress, "metrics", null));
        foreach (var worker in cluster.Workers)
        {
            Assert.DoesNotContain(MetricNames.WorkerRequestsTotal + "{", await GetAsync(worker.Address, "metrics", cluster.ClusterSecret));
            Assert.Equal(default, ((KvRouter)cluster.Router).Load.Get(worker.Instance.InstanceId));
        }

        // The real path counts what users send from the first request on.
        using var client = new HttpClient { BaseAddress = cluster.Address };
        using var response = await client.PostAsync("v1/chat/completions", new StringContent(
            """{"model":"tiny","messages":[{"role":"user","content":"Hello!"}],"max_tokens":2}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        Assert.Equal(1, cluster.Traffic().FinishedRequests);
        Assert.Contains(MetricNames.FrontendRequestsTotal + "{", await GetAsync(cluster.AdminAddress, "metrics", null));
    }

    [Fact]
    public async Task WarmUpOff_DoesNotRun()
    {
        var logs = new Capture();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        await using var cluster = await EmbeddedCluster.StartAsync(Settings(warmUp: "false"), loggerFactory);

        Assert.Null(cluster.WarmUp);
        Assert.DoesNotContain(logs.Lines, l => l.Contains("arm-up", StringComparison.Ordinal) || l.Contains("Warming up", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WorkerWarmUp_SendsTheRequestSetThroughAPrivateWorker()
    {
        var settings = Settings(warmUp: null);
        var card = ModelCard.Load(_model, "tiny", "auto");
        var logs = new Capture();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        await using var engine = EngineFactory.Create(settings, "worker-test", _model, card, loggerFactory, kvEvents: null);
        var options = new WorkerOptions { Role = WorkerRole.Aggregated, InstanceId = "worker-test" };

        var report = await WarmUp.WorkerAsync(options, engine, card, ClusterSecret.Generate(), loggerFactory.CreateLogger("test"), CancellationToken.None);

        Assert.Equal(8, report.Requests);
        Assert.Equal(0, engine.GetLoad().RunningRequests);
        Assert.Contains(logs.Lines, l => l.StartsWith("Warm-up took", StringComparison.Ordinal));
        // The caller's options are left as they were: the real worker still listens where it was told.
        Assert.Equal(new WorkerOptions().Port, options.Port);
    }

    [Fact]
    public async Task FrontendWarmUp_SendsTheRequestSetThroughAPrivateGatewayOverAMocker()
    {
        var settings = Settings(warmUp: null);
        var card = ModelCard.Load(_model, "tiny", "auto");
        var logs = new Capture();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));

        var report = await WarmUp.FrontendAsync(settings, card, ClusterSecret.Generate(), loggerFactory.CreateLogger("test"), CancellationToken.None);

        // Chat (the model's template and tokenizer) and completions, streamed and whole, twice, all answered.
        Assert.Equal(8, report.Requests);
        Assert.Contains(logs.Lines, l => l.StartsWith("Warm-up took", StringComparison.Ordinal));
    }

    private ClusterSettings Settings(string? warmUp)
    {
        var values = new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:Port"] = "0",
            ["Dynamo:Serve:Engine"] = "dotnet",
            ["Dynamo:Serve:Model"] = _model,
            ["Dynamo:Serve:ServedModelName"] = "tiny",
            ["Dynamo:Serve:Mode"] = "disagg",
        };
        if (warmUp is not null)
        {
            values["Dynamo:Serve:WarmUp"] = warmUp;
        }

        return ClusterSettings.From(DynamoConfiguration.Build(null, values, environment: new Dictionary<string, string?>()));
    }

    private static async Task<string> GetAsync(Uri address, string path, ClusterSecret? secret)
    {
        using var client = secret is null
            ? new HttpClient()
            : new HttpClient(new ClusterCredentialHandler(secret, new SocketsHttpHandler()));
        client.BaseAddress = address;
        return await client.GetStringAsync(path);
    }

    /// <summary>Formatted log lines, in order.</summary>
    private sealed class Capture : ILoggerProvider, ILogger
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Enqueue(formatter(state, exception));

        public void Dispose()
        {
        }
    }
}
