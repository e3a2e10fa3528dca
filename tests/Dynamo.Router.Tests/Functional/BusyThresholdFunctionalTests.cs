using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dynamo.Contracts;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.Routing;
using Dynamo.Engine.Mocker;
using Dynamo.Gateway;
using Dynamo.Gateway.Models;
using Dynamo.Llm;
using Dynamo.Router.Kv;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Tests.Infrastructure;
using Dynamo.Worker;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;
using static Dynamo.Router.Tests.TestSupport;

namespace Dynamo.Router.Tests.Functional;

/// <summary>
/// The busy thresholds end to end: a gateway over real sockets, two mocker workers on loopback ports, and their load
/// reports on the event plane (published here every 100 ms, as each worker's <c>LoadReportPublisher</c> would, with the
/// load each test sets).
/// </summary>
public sealed class BusyThresholdFunctionalTests(ITestOutputHelper output)
{
    private static readonly EngineLoad Idle = new() { RunningRequests = 0, KvBlocksUsed = 10, KvBlocksTotal = 1000 };
    private static readonly EngineLoad KvFull = new() { RunningRequests = 40, KvBlocksUsed = 990, KvBlocksTotal = 1000 };

    [Fact]
    public async Task WorkerOverTheKvThreshold_GetsNoNewRequests_WhileTheOtherCan()
    {
        await using var cluster = await BusyCluster.StartAsync(new GatewayOptions { Port = 0 }, output);
        cluster.Loads["worker-0"] = KvFull;
        cluster.Loads["worker-1"] = Idle;
        await Until(() => cluster.Router.Availability!.BusyCount(Contracts.Routing.BusyReason.KvUsage) == 1, "worker-0's report over BusyKvUsage");

        for (var i = 0; i < 8; i++)
        {
            using var response = await cluster.CompleteAsync(Tokens(i, 64));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("worker-1", response.Headers.GetValues("x-dynamo-worker").Single());
        }

        Assert.Equal(1, await Http.MetricAsync(cluster.Client, """dynamo_component_router_busy_workers{reason="kv_usage"}"""));
        Assert.Equal(0, await Http.MetricAsync(cluster.Client, "dynamo_frontend_busy_held_requests_total"));
    }

    [Fact]
    public async Task AllBusy_RequestIsHeld_ThenServedWhenAWorkerFrees()
    {
        await using var cluster = await BusyCluster.StartAsync(new GatewayOptions { Port = 0, BusyWait = TimeSpan.FromSeconds(30) }, output);
        cluster.Loads["worker-0"] = KvFull;
        cluster.Loads["worker-1"] = KvFull;
        await Until(() => cluster.Router.Availability!.BusyCount(Contracts.Routing.BusyReason.KvUsage) == 2, "both workers' reports over BusyKvUsage");

        var held = cluster.CompleteAsync(Tokens(1, 64));
        await UntilAsync(async () => await Http.MetricAsync(cluster.Client, "dynamo_frontend_held_requests") == 1, "the request to be held");
        Assert.False(held.IsCompleted, "a request was sent while every worker was busy");
        Assert.Equal(0, (await Http.DecisionsAsync(cluster.Client)).Values.Sum());

        // worker-1's next report shows room: the held request goes there.
        cluster.Loads["worker-1"] = Idle;
        using var response = await held.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("worker-1", response.Headers.GetValues("x-dynamo-worker").Single());
        Assert.Equal(1, await Http.MetricAsync(cluster.Client, "dynamo_frontend_busy_held_requests_total"));
        Assert.Equal(0, await Http.MetricAsync(cluster.Client, "dynamo_frontend_held_requests"));
        Assert.Equal(0, await Http.MetricAsync(cluster.Client, "dynamo_frontend_busy_refused_requests_total"));
    }

    [Theory]
    [InlineData(429, "rate_limit_exceeded")]
    [InlineData(503, "service_unavailable")]
    public async Task AllBusy_PastTheWait_AnswersTheConfiguredStatus_WithAnOpenAiError(int status, string type)
    {
        await using var cluster = await BusyCluster.StartAsync(new GatewayOptions { Port = 0, BusyWait = TimeSpan.FromMilliseconds(500), BusyStatus = status }, output);
        cluster.Loads["worker-0"] = KvFull;
        cluster.Loads["worker-1"] = Idle with { WaitingRequests = 20 };
        await Until(() => cluster.Router.Availability!.AllBusy([.. cluster.Workers.Select(w => w.Instance)]), "both workers busy (KV, queue)");

        using var response = await cluster.CompleteAsync(Tokens(2, 64));
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal((HttpStatusCode)status, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.Equal("workers_busy", error.GetProperty("code").GetString());
        Assert.Contains("Dynamo:Gateway:BusyWait", error.GetProperty("message").GetString());
        Assert.Equal(1, await Http.MetricAsync(cluster.Client, "dynamo_frontend_busy_refused_requests_total"));
        Assert.Equal(1, await Http.MetricAsync(cluster.Client, """dynamo_component_router_busy_workers{reason="waiting_requests"}"""));
        Assert.Equal(0, (await Http.DecisionsAsync(cluster.Client)).Values.Sum());

        // Every busy series is out (held, refused, busy workers by reason): the page still passes Prometheus' linter.
        var (exit, lint) = await Promtool.CheckMetricsAsync(await cluster.Client.GetStringAsync("metrics"));
        Assert.True(exit == 0 && lint.Length == 0, $"promtool check metrics (exit {exit}):\n{lint}");
    }

    [Fact]
    public async Task ClientThatLeavesWhileHeld_ReleasesItsPlace()
    {
        await using var cluster = await BusyCluster.StartAsync(new GatewayOptions { Port = 0, BusyWait = TimeSpan.FromSeconds(60), MaxConcurrentRequests = 1 }, output);
        cluster.Loads["worker-0"] = KvFull;
        cluster.Loads["worker-1"] = KvFull;
        await Until(() => cluster.Router.Availability!.BusyCount(Contracts.Routing.BusyReason.KvUsage) == 2, "both workers' reports over BusyKvUsage");

        using (var leaving = new CancellationTokenSource())
        {
            var held = cluster.CompleteAsync(Tokens(3, 64), leaving.Token);
            await UntilAsync(async () => await Http.MetricAsync(cluster.Client, "dynamo_frontend_held_requests") == 1, "the request to be held");
            Assert.Equal(1, await Http.MetricAsync(cluster.Client, "dynamo_frontend_admitted_sequences"));
            await leaving.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => held);
        }

        await UntilAsync(async () => await Http.MetricAsync(cluster.Client, "dynamo_frontend_held_requests") == 0, "the held request to leave");
        await UntilAsync(async () => await Http.MetricAsync(cluster.Client, "dynamo_frontend_admitted_sequences") == 0, "its concurrency slot to be released");

        // The only slot is free again: the next request is served once a worker frees.
        cluster.Loads["worker-0"] = Idle;
        using var response = await cluster.CompleteAsync(Tokens(4, 64)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("worker-0", response.Headers.GetValues("x-dynamo-worker").Single());
    }

    /// <summary>
    /// A held request that sees a worker free is sent, even when the next look would find every worker busy again (a
    /// report or the router's own count flips back at once): only the wait running out refuses. The gateway once looked
    /// a second time after the hold and answered 429 "none freed within 30 s" to requests held for no time at all (seen
    /// as rare 429s in the Proxy bench's P1, one worker near its waiting threshold).
    /// </summary>
    [Fact]
    public async Task HeldRequest_SeenFree_IsSent_EvenIfBusyAgainAtOnce()
    {
        await using var cluster = await BusyCluster.StartAsync(new GatewayOptions { Port = 0, BusyWait = TimeSpan.FromSeconds(30) }, output,
            router => new FlickeringRouter(router));

        using var response = await cluster.CompleteAsync(Tokens(5, 64)).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, await Http.MetricAsync(cluster.Client, "dynamo_frontend_busy_held_requests_total"));
        Assert.Equal(0, await Http.MetricAsync(cluster.Client, "dynamo_frontend_busy_refused_requests_total"));
    }

    /// <summary>The KV router, whose availability says "all busy", then "one free", then "all busy" for good.</summary>
    private sealed class FlickeringRouter(IWorkerRouter inner) : IWorkerRouter, IWorkerAvailability
    {
        private int _looks;

        public string Name => inner.Name;

        public IWorkerAvailability? Availability => this;

        public Task Changed => Task.CompletedTask;

        public bool AllBusy(IReadOnlyList<Contracts.Discovery.WorkerInstance> candidates) => Interlocked.Increment(ref _looks) != 2;

        public int BusyCount(Contracts.Routing.BusyReason reason) => 0;

        public RoutingDecision Select(RoutingRequest request, IReadOnlyList<Contracts.Discovery.WorkerInstance> candidates) => inner.Select(request, candidates);

        public void MarkPrefilled(RoutingDecision decision) => inner.MarkPrefilled(decision);

        public void Complete(RoutingDecision decision) => inner.Complete(decision);

        public void RemoveWorker(string instanceId) => inner.RemoveWorker(instanceId);
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, string what, int seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting for {what}.");
            await Task.Delay(20);
        }
    }

    /// <summary>Two mocker workers, a KV router with the default thresholds over their reports, one gateway.</summary>
    private sealed class BusyCluster : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly List<MockerEngine> _engines = [];
        private readonly ILoggerFactory _logs;
        private Task _reporting = Task.CompletedTask;
        private GatewayHost? _gateway;

        private BusyCluster(ILoggerFactory logs) => _logs = logs;

        /// <summary>The load each worker reports next (every 100 ms).</summary>
        public ConcurrentDictionary<string, EngineLoad> Loads { get; } = new(StringComparer.Ordinal);

        public List<WorkerHost> Workers { get; } = [];

        public KvRouter Router { get; private set; } = null!;

        public HttpClient Client { get; private set; } = null!;

        public static async Task<BusyCluster> StartAsync(GatewayOptions options, ITestOutputHelper output, Func<IWorkerRouter, IWorkerRouter>? wrap = null)
        {
            var cluster = new BusyCluster(TestOutputLoggerProvider.Factory(output, LogLevel.Information));
            try
            {
                await cluster.StartAsync(options, wrap ?? (router => router));
                return cluster;
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        public Task<HttpResponseMessage> CompleteAsync(int[] prompt, CancellationToken cancellationToken = default) =>
            Client.PostAsJsonAsync("v1/completions", new Dictionary<string, object>
            {
                ["model"] = "tiny",
                ["prompt"] = prompt,
                ["max_tokens"] = 4,
                ["ignore_eos"] = true,
            }, cancellationToken);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _reporting;
            Client?.Dispose();
            if (_gateway is not null)
            {
                await _gateway.DisposeAsync();
            }

            if (Router is not null)
            {
                await Router.DisposeAsync();
            }

            foreach (var worker in Workers)
            {
                await worker.DisposeAsync();
            }

            foreach (var engine in _engines)
            {
                await engine.DisposeAsync();
            }

            _logs.Dispose();
            _stop.Dispose();
        }

        private async Task StartAsync(GatewayOptions options, Func<IWorkerRouter, IWorkerRouter> wrap)
        {
            var card = ModelCard.Load(await Http.TinyModelAsync(), "tiny");
            var discovery = new InProcessDiscovery();
            var events = new InProcessEventPlane();
            var secret = Runtime.Security.ClusterSecret.Generate();
            for (var i = 0; i < 2; i++)
            {
                var id = $"worker-{i}";
                var engine = new MockerEngine(
                    new MockerOptions { ModelName = "tiny", WorkerId = id, VocabSize = card.VocabSize, EosTokenIds = [.. card.EosTokenIds], MaxContextLength = card.MaxContextLength, SpeedupFactor = 8 },
                    TimeProvider.System,
                    new KvEventPublisher(events));
                _engines.Add(engine);
                Workers.Add(await WorkerHost.StartAsync(new WorkerOptions { InstanceId = id, ServedModelName = "tiny" }, engine, card, discovery, secret, _logs, engine));
                Loads[id] = Idle;
            }

            Router = RouterFactory.CreateKv(new RouterOptions { Seed = 21 }, new RouterServices { Events = events, Discovery = discovery, ClusterSecret = secret, LoggerFactory = _logs });
            await Within(Router.Indexer!.WhenSyncedAsync(), "the router's first dumps");
            _reporting = ReportAsync(events, _stop.Token);
            var models = new ModelCatalog();
            models.Add(card);
            _gateway = await GatewayHost.StartAsync(options, wrap(Router), discovery, models, secret, _logs);
            Client = new HttpClient { BaseAddress = _gateway.Address, Timeout = TimeSpan.FromSeconds(60) };
        }

        private async Task ReportAsync(InProcessEventPlane events, CancellationToken cancellationToken)
        {
            try
            {
                while (!cancellationToken.IsCancellationRequested)
                {
                    foreach (var (id, load) in Loads)
                    {
                        await events.PublishAsync(EventSubjects.LoadMetrics, new WorkerLoadReport(id, "tiny", WorkerRole.Aggregated, DateTimeOffset.UtcNow, load), cancellationToken);
                    }

                    await Task.Delay(100, cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
        }
    }
}
