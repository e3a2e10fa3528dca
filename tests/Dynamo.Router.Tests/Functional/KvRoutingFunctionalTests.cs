using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Engine.Mocker;
using Dynamo.Gateway;
using Dynamo.Gateway.Models;
using Dynamo.Llm;
using Dynamo.Router.Kv;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Events;
using Dynamo.Worker;
using Dynamo.Runtime.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;
using static Dynamo.Router.Tests.TestSupport;

namespace Dynamo.Router.Tests.Functional;

/// <summary>The KV router behind a real gateway, over real workers on loopback ports.</summary>
public sealed class KvRoutingFunctionalTests(ITestOutputHelper output)
{
    [Fact]
    public async Task RealEngine_SharedPrefixes_LandOnTheirHolder_AndReportCachedTokens_AndASharedSystemPromptSpreads()
    {
        var settings = ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:Port"] = "0",
            ["Dynamo:Serve:Engine"] = "dotnet",
            ["Dynamo:Serve:Model"] = await Http.TinyModelAsync(),
            ["Dynamo:Serve:ServedModelName"] = "tiny",
            ["Dynamo:Serve:Mode"] = "agg",
            ["Dynamo:Serve:Workers"] = "4",
            ["Dynamo:Engine:NumKvBlocks"] = "1024",
            ["Dynamo:Engine:Threads"] = "1",
            ["Dynamo:Engine:Backend"] = "managed",
        }, environment: new Dictionary<string, string?>()));
        await using var cluster = await EmbeddedCluster.StartAsync(settings, NullLoggerFactory.Instance);
        using var client = new HttpClient { BaseAddress = cluster.Address, Timeout = TimeSpan.FromSeconds(120) };
        var router = Assert.IsType<KvRouter>(cluster.Router);
        Assert.False(router.IsApproximate);
        await Within(router.Indexer!.WhenSyncedAsync(), "the router's first dumps of the four workers");

        // Four documents of 512 tokens (32 blocks). The first request with each puts it on some worker; the second,
        // with another question, must go to that worker and be served 512 tokens from its prefix cache.
        var documents = Enumerable.Range(0, 4).Select(i => Tokens(100 + i, 512, vocab: 1000)).ToArray();
        var holders = new HashSet<string>();
        foreach (var document in documents)
        {
            Assert.Equal(0, await Http.CompleteAsync(client, "tiny", Concat(document, Tokens(200, 24, vocab: 1000)), 2));
            var hashes = Hashes(document);
            await Until(() => cluster.Workers.Any(w => router.Index.Contains(w.Instance.InstanceId, hashes[^1])), "the document's KV events");
            holders.Add(cluster.Workers.Single(w => router.Index.Contains(w.Instance.InstanceId, hashes[^1])).Instance.InstanceId);

            Assert.Equal(512, await Http.CompleteAsync(client, "tiny", Concat(document, Tokens(300, 24, vocab: 1000)), 2));
        }

        // Idle workers tie on cost and the smaller cache wins the tie: the four documents went to four workers.
        Assert.Equal(4, holders.Count);
        Assert.True(await Http.MetricAsync(client, "dynamo_component_router_kv_hit_rate") > 0.4);
        // Each decision explains itself: the predicted TTFT of the chosen worker and of the best other candidate.
        var routed = await Http.MetricAsync(client, """dynamo_component_router_predicted_ttft_seconds_count{choice="chosen"}""");
        Assert.True(routed >= 8, $"predicted TTFT observed for {routed} decisions");
        Assert.Equal(routed, await Http.MetricAsync(client, """dynamo_component_router_predicted_ttft_seconds_count{choice="best_alternative"}"""));
        Assert.True(await Http.MetricAsync(client, """dynamo_component_router_predicted_ttft_seconds_sum{choice="chosen"}""")
            <= await Http.MetricAsync(client, """dynamo_component_router_predicted_ttft_seconds_sum{choice="best_alternative"}"""),
            "the chosen workers were predicted no slower than the alternatives, in sum");

        // Dynamo #737: a shared system prompt under load must not pile onto the worker that holds it. One request
        // puts the prompt on one worker; then 32 arrive at once.
        var system = Tokens(400, 640, vocab: 1000);
        await Http.CompleteAsync(client, "tiny", Concat(system, Tokens(499, 32, vocab: 1000)), 2);
        var systemHashes = Hashes(system);
        await Until(() => cluster.Workers.Any(w => router.Index.Contains(w.Instance.InstanceId, systemHashes[^1])), "the system prompt's KV events");
        var before = await Http.DecisionsAsync(client);
        await Task.WhenAll(Enumerable.Range(0, 32).Select(i => Http.CompleteAsync(client, "tiny", Concat(system, Tokens(500 + i, 32, vocab: 1000)), 16)));
        var after = await Http.DecisionsAsync(client);
        var burst = after.ToDictionary(p => p.Key, p => p.Value - before.GetValueOrDefault(p.Key));

        output.WriteLine($"shared system prompt, 32 at once: {string.Join(", ", burst.OrderBy(p => p.Key))}");
        Assert.Equal(4, burst.Count(p => p.Value > 0));
        Assert.True(burst.Values.Max() <= 16, $"one worker took {burst.Values.Max()} of 32: {string.Join(", ", burst)}");
    }

    [Fact]
    public async Task TwoGatewayReplicas_WithReplicaSync_DistributeNoWorseThanOne()
    {
        // Warnings and errors go to the test's output: a request that fails shows the gateway's stack trace.
        using var logs = TestOutputLoggerProvider.Factory(output, LogLevel.Warning);
        var single = await RunAsync(gateways: 1, logs);
        var pair = await RunAsync(gateways: 2, logs);

        // Spread = busiest worker's share over the fair share; 1.0 is perfect.
        output.WriteLine($"one gateway: {string.Join(", ", single.OrderBy(p => p.Key))} (spread {Spread(single):F2}); two: {string.Join(", ", pair.OrderBy(p => p.Key))} (spread {Spread(pair):F2})");
        Assert.Equal(4, pair.Count(p => p.Value > 0));
        Assert.True(Spread(pair) <= Spread(single) + 0.25, $"two replicas: {string.Join(", ", pair)}; one gateway: {string.Join(", ", single)}");
    }

    private static double Spread(Dictionary<string, int> counts) => counts.Values.Max() / counts.Values.Average();

    /// <summary>
    /// Four mocker workers (simulated time, 4× faster than an H100 running an 8B model) behind one or two gateways that
    /// share workers, discovery and event plane; 96 requests sharing a system prompt, 16 at a time, alternating gateways.
    /// </summary>
    private static async Task<Dictionary<string, int>> RunAsync(int gateways, ILoggerFactory logs)
    {
        var model = await Http.TinyModelAsync();
        var card = ModelCard.Load(model, "tiny");
        var discovery = new InProcessDiscovery();
        var events = new InProcessEventPlane();
        var secret = Runtime.Security.ClusterSecret.Generate();
        var engines = new List<MockerEngine>();
        var workers = new List<WorkerHost>();
        var routers = new List<KvRouter>();
        var hosts = new List<GatewayHost>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var id = $"worker-{i}";
                var engine = new MockerEngine(
                    new MockerOptions { ModelName = "tiny", WorkerId = id, VocabSize = card.VocabSize, EosTokenIds = [.. card.EosTokenIds], MaxContextLength = card.MaxContextLength, SpeedupFactor = 4 },
                    TimeProvider.System,
                    new KvEventPublisher(events));
                engines.Add(engine);
                workers.Add(await WorkerHost.StartAsync(new WorkerOptions { InstanceId = id, ServedModelName = "tiny" }, engine, card, discovery, secret, logs, engine));
            }

            var models = new ModelCatalog();
            models.Add(card);
            for (var g = 0; g < gateways; g++)
            {
                var router = RouterFactory.CreateKv(
                    new RouterOptions { Seed = 10 + g },
                    new RouterServices { Events = events, Discovery = discovery, ReplicaId = $"gateway-{g}", ClusterSecret = secret, LoggerFactory = logs });
                routers.Add(router);
                await Within(router.Indexer!.WhenSyncedAsync(), "the router's first dumps");
                hosts.Add(await GatewayHost.StartAsync(new GatewayOptions { Port = 0 }, router, discovery, models, secret, logs));
            }

            var clients = hosts.Select(h => new HttpClient { BaseAddress = h.Address, Timeout = TimeSpan.FromSeconds(60) }).ToArray();
            var system = Tokens(600, 1024, vocab: 1000);
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
            {
                for (var i = Interlocked.Increment(ref next); i < 96; i = Interlocked.Increment(ref next))
                {
                    await Http.CompleteAsync(clients[i % clients.Length], "tiny", Concat(system, Tokens(700 + i, 64, vocab: 1000)), 24);
                }
            }));

            var total = new Dictionary<string, int>();
            foreach (var client in clients)
            {
                foreach (var (worker, count) in await Http.DecisionsAsync(client))
                {
                    total[worker] = total.GetValueOrDefault(worker) + count;
                }

                client.Dispose();
            }

            if (gateways > 1)
            {
                Assert.All(routers, r => Assert.True(r.ReplicaSync!.Received > 0, "a replica saw none of the other's load"));
            }

            return total;
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }

            foreach (var router in routers)
            {
                await router.DisposeAsync();
            }

            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }

            foreach (var engine in engines)
            {
                await engine.DisposeAsync();
            }
        }
    }
}
