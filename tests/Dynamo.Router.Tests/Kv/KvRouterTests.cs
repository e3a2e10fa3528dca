using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;
using Dynamo.KvCache;
using Dynamo.Router.Indexing;
using Dynamo.Router.Kv;
using Dynamo.Router.Replicas;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Time.Testing;
using static Dynamo.Router.Tests.TestSupport;

namespace Dynamo.Router.Tests.Kv;

public sealed class KvRouterTests
{
    private static readonly WorkerInstance[] Four = [Instance("a"), Instance("b"), Instance("c"), Instance("d")];

    [Fact]
    public async Task EventFed_RoutesToTheWorkerWhoseEventsSayItHoldsThePrefix()
    {
        var plane = new InProcessEventPlane();
        var discovery = new InProcessDiscovery();
        var pools = Four.ToDictionary(w => w.InstanceId, w => new BlockPool(new BlockPoolOptions { WorkerId = w.InstanceId, TotalBlocks = 256 }, new PlaneSink(plane)));
        var leases = new List<IAsyncDisposable>();
        foreach (var worker in Four)
        {
            leases.Add(await discovery.RegisterAsync(worker));
        }

        await using var router = RouterFactory.CreateKv(new RouterOptions { Seed = 1 }, new RouterServices
        {
            Events = plane,
            Discovery = discovery,
            KvEventControl = new KvEventSourceControl(id => pools.GetValueOrDefault(id)),
        });
        await Within(router.Indexer!.WhenSyncedAsync(), "the first dumps");
        Assert.False(router.IsApproximate);

        var document = Tokens(1, 512);
        var pool = pools["c"];
        Assert.True(pool.TryAllocate(document, out var sequence));
        pool.MarkComputed(sequence, document.Length);
        pool.Release(sequence);
        await Until(() => router.Index.BlockCount("c") == 32, "c's stored events");

        var decision = router.Select(new RoutingRequest("r", "m", Concat(document, Tokens(2, 40)), 16), Four);

        Assert.Equal("c", decision.Worker.InstanceId);
        Assert.Equal(32, decision.OverlapBlocks);
        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }

        Assert.Equal(0, router.Index.WorkerCount);
    }

    [Fact]
    public void Approximate_IndexesItsOwnDecisions()
    {
        var router = RouterFactory.CreateKv(new RouterOptions { UseKvEvents = false, Seed = 3 }, new RouterServices());
        Assert.True(router.IsApproximate);
        var prompt = Tokens(3, 160);

        var first = router.Select(new RoutingRequest("r1", "m", prompt, 16), Four);
        router.MarkPrefilled(first);
        router.Complete(first);
        var second = router.Select(new RoutingRequest("r2", "m", prompt, 16), Four);

        Assert.Equal(0, first.OverlapBlocks);
        Assert.Equal(first.Worker.InstanceId, second.Worker.InstanceId);
        Assert.Equal(10, second.OverlapBlocks);
    }

    [Fact]
    public void Approximate_ForgetsAfterTheTtl_UnlessRenewed()
    {
        var time = new FakeTimeProvider();
        var router = RouterFactory.CreateKv(new RouterOptions { UseKvEvents = false, Seed = 4 }, new RouterServices { Time = time });
        var kept = Tokens(4, 64);
        var dropped = Tokens(5, 64);

        Complete(router, router.Select(new RoutingRequest("k1", "m", kept, 16), Four));
        Complete(router, router.Select(new RoutingRequest("d1", "m", dropped, 16), Four));
        time.Advance(TimeSpan.FromSeconds(100));
        var renewed = router.Select(new RoutingRequest("k2", "m", kept, 16), Four);
        Complete(router, renewed);
        Assert.Equal(4, renewed.OverlapBlocks);

        time.Advance(TimeSpan.FromSeconds(21));
        router.Select(new RoutingRequest("x", "m", Tokens(6, 16), 16), Four);

        Assert.Equal(4, router.Index.Match(kept, 16)[renewed.Worker.InstanceId]);
        Assert.All(router.Index.Match(dropped, 16).Values, overlap => Assert.Equal(0, overlap));

        time.Advance(TimeSpan.FromSeconds(100));
        router.Select(new RoutingRequest("y", "m", Tokens(7, 16), 16), Four);
        Assert.All(router.Index.Match(kept, 16).Values, overlap => Assert.Equal(0, overlap));
    }

    [Fact]
    public void RemoveWorker_ForgetsItsBlocksAndLoad()
    {
        var router = RouterFactory.CreateKv(new RouterOptions { UseKvEvents = false, Seed = 5 }, new RouterServices());
        var prompt = Tokens(8, 64);
        var decision = router.Select(new RoutingRequest("r", "m", prompt, 16), Four);
        var id = decision.Worker.InstanceId;

        router.RemoveWorker(id);

        Assert.Equal(0, router.Load.Get(id).Requests);
        Assert.False(router.Index.TryGetSlot(id, out _));
        router.Complete(decision);
    }

    [Fact]
    public async Task Replicas_SeeEachOthersActiveLoad()
    {
        var plane = new InProcessEventPlane();
        await using var one = RouterFactory.CreateKv(new RouterOptions { UseKvEvents = false, Seed = 6 }, new RouterServices { Events = plane, ReplicaId = "one" });
        await using var two = RouterFactory.CreateKv(new RouterOptions { UseKvEvents = false, Seed = 7 }, new RouterServices { Events = plane, ReplicaId = "two" });

        var decision = one.Select(new RoutingRequest("r", "m", Tokens(9, 160), 16), Four);
        var worker = decision.Worker.InstanceId;
        await Until(() => two.Load.Get(worker).Requests == 1, "the replica to see the request");
        Assert.Equal(160, two.Load.Get(worker).PrefillTokens);

        one.MarkPrefilled(decision);
        await Until(() => two.Load.Get(worker).PrefillTokens == 0, "the replica to see the first token");
        one.Complete(decision);
        await Until(() => two.Load.Get(worker).Requests == 0, "the replica to see the completion");
        Assert.Equal(0, one.Load.Get(worker).Requests);
        Assert.Equal(3, two.ReplicaSync!.Received);
    }

    [Fact]
    public async Task TwoReplicas_WithSync_SpreadABurstAsEvenlyAsOne()
    {
        // Requests alternate between two routers; none completes. With sync each sees the other's load, so
        // together they spread at least as evenly as one router taking every request. The three share one stopped
        // clock: the busy cost (on by default) weighs each worker's busy time on the wall clock, which the pair, waiting
        // for each update to arrive, and the single router would otherwise accumulate differently.
        const bool sync = true;
        var plane = new InProcessEventPlane();
        var time = new FakeTimeProvider();
        var options = new RouterOptions { UseKvEvents = false, ReplicaSync = sync, Seed = 8 };
        await using var one = RouterFactory.CreateKv(options, new RouterServices { Events = plane, ReplicaId = "one", Time = time });
        await using var two = RouterFactory.CreateKv(options, new RouterServices { Events = plane, ReplicaId = "two", Time = time });
        var single = RouterFactory.CreateKv(new RouterOptions { UseKvEvents = false, Seed = 9 }, new RouterServices { Time = time });
        var system = Tokens(10, 512);

        var pair = new Dictionary<string, int>();
        var alone = new Dictionary<string, int>();
        for (var i = 0; i < 16; i++)
        {
            var prompt = Concat(system, Tokens(100 + i, 32));
            var router = i % 2 == 0 ? one : two;
            var before = ((one.ReplicaSync?.Received ?? 0) + (two.ReplicaSync?.Received ?? 0));
            var decision = router.Select(new RoutingRequest($"r{i}", "m", prompt, 16), Four);
            {
                await Until(() => (one.ReplicaSync!.Received + two.ReplicaSync!.Received) == before + 1, "the update to reach the other replica");
            }

            pair[decision.Worker.InstanceId] = pair.GetValueOrDefault(decision.Worker.InstanceId) + 1;
            var own = single.Select(new RoutingRequest($"s{i}", "m", prompt, 16), Four);
            alone[own.Worker.InstanceId] = alone.GetValueOrDefault(own.Worker.InstanceId) + 1;
        }

        var spreadPair = pair.Values.Max() - (pair.Count == 4 ? pair.Values.Min() : 0);
        var spreadAlone = alone.Values.Max() - (alone.Count == 4 ? alone.Values.Min() : 0);
        Assert.Equal(4, pair.Count);
        Assert.True(spreadPair <= spreadAlone, $"two synced replicas: {Show(pair)}; one router: {Show(alone)}");
    }

    private static string Show(Dictionary<string, int> counts) => string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Key}={c.Value}"));

    private static void Complete(KvRouter router, RoutingDecision decision)
    {
        router.MarkPrefilled(decision);
        router.Complete(decision);
    }

    private sealed class PlaneSink(IEventPlane plane) : IKvEventSink
    {
        public void Publish(KvEvent kvEvent) => plane.PublishAsync(EventSubjects.KvEvents, kvEvent).AsTask().GetAwaiter().GetResult();
    }
}
