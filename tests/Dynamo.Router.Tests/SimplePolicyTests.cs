using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Routing;
using Dynamo.Router.Load;
using Dynamo.Router.Policies;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Router.Tests;

public sealed class SimplePolicyTests
{
    private static readonly WorkerInstance[] Workers = [Instance("a"), Instance("b"), Instance("c")];

    [Fact]
    public void RoundRobin_CyclesThroughWorkersInOrder()
    {
        var router = RouterFactory.Create(new RouterOptions { Mode = RouterMode.RoundRobin });
        var picked = Enumerable.Range(0, 6).Select(i => router.Select(Request(i), Workers).Worker.InstanceId).ToArray();
        Assert.Equal(["a", "b", "c", "a", "b", "c"], picked);
    }

    [Fact]
    public void LeastLoaded_SpreadsConcurrentRequestsEvenly()
    {
        var router = RouterFactory.Create(new RouterOptions { Mode = RouterMode.LeastLoaded, Seed = 7 });
        var counts = Enumerable.Range(0, 30)
            .Select(i => router.Select(Request(i), Workers).Worker.InstanceId)
            .GroupBy(id => id)
            .ToDictionary(g => g.Key, g => g.Count());
        Assert.All(Workers, w => Assert.Equal(10, counts[w.InstanceId]));
    }

    [Fact]
    public void LeastLoaded_AfterCompletion_ReturnsToFreedWorker()
    {
        var router = RouterFactory.Create(new RouterOptions { Mode = RouterMode.LeastLoaded, Seed = 1 });
        var decisions = Enumerable.Range(0, 3).Select(i => router.Select(Request(i), Workers)).ToArray();
        var freed = decisions[1];
        router.Complete(freed);

        var next = router.Select(Request(99), Workers);

        Assert.Equal(freed.Worker.InstanceId, next.Worker.InstanceId);
    }

    [Fact]
    public void LeastLoaded_OnEqualRequestCount_PrefersFewerBlocks()
    {
        var router = RouterFactory.Create(new RouterOptions { Mode = RouterMode.LeastLoaded, Seed = 3 });
        var two = new[] { Instance("a"), Instance("b") };
        var big = router.Select(new RoutingRequest("big", "m", new int[640], 16), two);
        var small = router.Select(new RoutingRequest("small", "m", new int[16], 16), two);
        Assert.NotEqual(big.Worker.InstanceId, small.Worker.InstanceId);

        var next = router.Select(Request(5), two);

        Assert.Equal(small.Worker.InstanceId, next.Worker.InstanceId);
    }

    [Fact]
    public void Tracker_ExpiresEntriesOlderThanTtl()
    {
        var time = new FakeTimeProvider();
        var tracker = new ActiveLoadTracker(time, TimeSpan.FromMinutes(1));
        var stale = new RoutingDecision("stale", Workers[0], 0, 32);
        tracker.Add(stale);
        Assert.Equal(1, tracker.Get("a").Requests);

        time.Advance(TimeSpan.FromMinutes(2));
        tracker.Add(new RoutingDecision("fresh", Workers[1], 0, 32));

        Assert.Equal(0, tracker.Get("a").Requests);
        Assert.Equal(1, tracker.Get("b").Requests);
    }

    [Fact]
    public void Tracker_PrefillTokensLeaveAtFirstToken_BlocksAtCompletion()
    {
        var tracker = new ActiveLoadTracker(TimeProvider.System, TimeSpan.FromMinutes(1));
        var decision = new RoutingDecision("r", Workers[0], 0, 40);
        tracker.Add(decision);
        Assert.Equal(new ActiveLoad(1, 40, 3) { Prefilling = 1 }, tracker.Get("a"));
        var cached = new RoutingDecision("cached", Workers[1], OverlapBlocks: 2, 40);
        tracker.Add(cached);
        Assert.Equal(new ActiveLoad(1, 8, 3) { Prefilling = 1 }, tracker.Get("b"));

        tracker.MarkPrefilled(decision);
        tracker.MarkPrefilled(decision);
        Assert.Equal(new ActiveLoad(1, 0, 3), tracker.Get("a"));

        tracker.Complete(decision);
        Assert.Equal(new ActiveLoad(0, 0, 0), tracker.Get("a"));
    }

    [Fact]
    public void RemoveWorker_ForgetsItsLoad()
    {
        var router = RouterFactory.Create(new RouterOptions { Mode = RouterMode.LeastLoaded, Seed = 2 });
        var first = router.Select(Request(0), [Workers[0]]);
        router.RemoveWorker("a");
        router.Complete(first);

        var next = router.Select(Request(1), [Workers[0], Workers[1]]);

        Assert.Contains(next.Worker.InstanceId, new[] { "a", "b" });
    }

    [Fact]
    public void Kv_WithoutEventPlane_RunsApproximate()
    {
        var router = RouterFactory.Create(new RouterOptions { Mode = RouterMode.Kv });
        var kv = Assert.IsType<Dynamo.Router.Kv.KvRouter>(router);
        Assert.True(kv.IsApproximate);
    }

    [Theory]
    [InlineData("round-robin", RouterMode.RoundRobin)]
    [InlineData("random", RouterMode.Random)]
    [InlineData("least-loaded", RouterMode.LeastLoaded)]
    [InlineData("kv", RouterMode.Kv)]
    public void TryParseMode_AcceptsCliNames(string text, RouterMode expected)
    {
        Assert.True(RouterOptions.TryParseMode(text, out var mode));
        Assert.Equal(expected, mode);
    }

    private static RoutingRequest Request(int i) => new($"r{i}", "m", new int[32], 16);

    private static WorkerInstance Instance(string id) => new()
    {
        InstanceId = id,
        Model = "m",
        Role = WorkerRole.Aggregated,
        Address = new Uri($"http://127.0.0.1:1/{id}/"),
    };
}
