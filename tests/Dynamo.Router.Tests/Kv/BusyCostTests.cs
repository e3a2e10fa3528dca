using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;
using Dynamo.Router.Indexing;
using Dynamo.Router.Kv;
using Dynamo.Router.Load;
using Microsoft.Extensions.Time.Testing;
using static Dynamo.Router.Tests.TestSupport;

namespace Dynamo.Router.Tests.Kv;

/// <summary>The busy term of the predicted cost (<see cref="RouterOptions.BusyCostMs"/>): recent busy time against cache savings.</summary>
public sealed class BusyCostTests
{
    private static readonly WorkerInstance[] Two = [Instance("a"), Instance("b")];

    [Fact]
    public void BusyFraction_IsTheExponentialAverageOfHavingARequestInFlight()
    {
        var time = new FakeTimeProvider();
        var load = new ActiveLoadTracker(time, TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(10));
        var request = new RoutingDecision("r", Instance("a"), 0, 160);

        Assert.Equal(0, load.BusyFraction("a"));
        load.Add(request);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1 - Math.Exp(-1), load.BusyFraction("a"), 6);

        // Two requests overlapping count as busy once; the average decays once the last one completes.
        load.Add(new RoutingDecision("r2", Instance("a"), 0, 160));
        load.Complete("r2");
        load.Complete(request);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal((1 - Math.Exp(-1)) * Math.Exp(-1), load.BusyFraction("a"), 6);
        Assert.Equal(0, load.BusyFraction("never-routed"));
    }

    [Theory]
    [InlineData(0, "b")]    // off: the holder of the shared prefix wins, however busy it has been
    [InlineData(600, "a")]  // on: 6 s of the last 10 busy outweighs the ~125 ms its cache saves
    public void SharedPrefix_RecentlyBusyHolder_LosesToAnIdleWorker_DespiteFewerRequestsInFlight(double busyCostMs, string expected)
    {
        var (router, time) = NewRouter(busyCostMs);
        var shared = Tokens(1, 4096);
        router.Index.Store(router.Index.GetOrAddWorker("b"), StorageTier.Device, Hashes(shared));

        // b served sessions for the last 10 s and has just gone quiet; a has a request decoding right now.
        var past = new RoutingDecision("past", Two[1], 0, 4096);
        router.Load.Add(past);
        time.Advance(TimeSpan.FromSeconds(10));
        router.Load.Complete(past);
        var decoding = new RoutingDecision("decoding", Two[0], 0, 160);
        router.Load.Add(decoding);
        router.Load.MarkPrefilled(decoding);

        var decision = router.Select(new RoutingRequest("new-session", "m", Concat(shared, Tokens(2, 300)), 16), Two);

        Assert.Equal(expected, decision.Worker.InstanceId);
    }

    [Fact]
    public void LongContext_StaysOnItsBusyHolder_WhereItsCacheSavesMoreThanTheBusyCost()
    {
        var (router, time) = NewRouter(600);
        var context = Tokens(3, 32_768);
        router.Index.Store(router.Index.GetOrAddWorker("b"), StorageTier.Device, Hashes(context));
        var past = new RoutingDecision("past", Two[1], 0, 4096);
        router.Load.Add(past);
        time.Advance(TimeSpan.FromSeconds(30));

        // b busy throughout (0.95 × 600 ms), but its 32K cached tokens save more than a second of prefill.
        var decision = router.Select(new RoutingRequest("next-turn", "m", Concat(context, Tokens(4, 300)), 16), Two);

        Assert.Equal("b", decision.Worker.InstanceId);
    }

    [Fact]
    public void NothingCached_TheBusyTermStaysOut_AndPredictedTtftDecides()
    {
        var (router, time) = NewRouter(600);
        // a was busy for 10 s and is idle now; b has never been busy but has 8,192 prompt tokens queued.
        var past = new RoutingDecision("past", Two[0], 0, 160);
        router.Load.Add(past);
        time.Advance(TimeSpan.FromSeconds(10));
        router.Load.Complete(past);
        router.Load.Add(new RoutingDecision("queued", Two[1], 0, 8192));

        var decision = router.Select(new RoutingRequest("r", "m", Tokens(5, 1024), 16), Two);

        Assert.Equal("a", decision.Worker.InstanceId);
    }

    [Theory]
    [InlineData(8192, "b")] // the default: a 536-token prompt pays 536/8,192 of the busy cost, less than its 512 cached tokens save
    [InlineData(0, "a")]    // unscaled: 600 ms × b's 26 % outweighs the ~15 ms a 512-token document saves
    public void Default_LightlyLoadedCluster_ShortSharedPrefix_StaysOnItsHolder(int busyCostTokens, string expected)
    {
        // The default busy cost, as a live cluster runs it (the functional test's documents): b served the document's
        // first request for 3 s of the last 10 and is idle now; a has never been busy.
        var options = new RouterOptions { BusyCostTokens = busyCostTokens };
        Assert.Equal(600, options.BusyCostMs);
        var (router, time) = NewRouter(options);
        var document = Tokens(6, 512);
        router.Index.Store(router.Index.GetOrAddWorker("b"), StorageTier.Device, Hashes(document));
        var first = new RoutingDecision("first", Two[1], 0, 536);
        router.Load.Add(first);
        time.Advance(TimeSpan.FromSeconds(3));
        router.Load.Complete(first);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.InRange(router.Load.BusyFraction("b"), 0.2, 0.3);

        var decision = router.Select(new RoutingRequest("second", "m", Concat(document, Tokens(7, 24)), 16), Two);

        Assert.Equal(expected, decision.Worker.InstanceId);
        Assert.Equal(expected == "b" ? 32 : 0, decision.OverlapBlocks);
    }

    [Fact]
    public void Default_NewSessionOnABusyHoldersSystemPrompt_GoesToAnIdleWorker()
    {
        // The agentic hot spot the default is for: a 6,000-token tool prompt held by b, busy 63 % of the last 10 s;
        // a new session (6,400 tokens, 0.78 of the full cost) saves ~200 ms there and pays ~300 ms.
        var (router, time) = NewRouter(new RouterOptions { BalanceAbsoluteThreshold = 0 });
        var tools = Tokens(8, 6000);
        router.Index.Store(router.Index.GetOrAddWorker("b"), StorageTier.Device, Hashes(tools));
        var past = new RoutingDecision("past", Two[1], 0, 6400);
        router.Load.Add(past);
        time.Advance(TimeSpan.FromSeconds(10));
        router.Load.Complete(past);

        var decision = router.Select(new RoutingRequest("new-session", "m", Concat(tools, Tokens(9, 400)), 16), Two);

        Assert.Equal("a", decision.Worker.InstanceId);
    }

    [Theory]
    [InlineData(0.7, "b")] // b's 63 % is under the floor: no busy cost, its cache wins
    [InlineData(0.0, "a")]
    public void BusyFloor_FractionsAtOrBelowIt_CostNothing(double floor, string expected)
    {
        var (router, time) = NewRouter(600, floor);
        var shared = Tokens(1, 8192);
        router.Index.Store(router.Index.GetOrAddWorker("b"), StorageTier.Device, Hashes(shared));
        var past = new RoutingDecision("past", Two[1], 0, 8192);
        router.Load.Add(past);
        time.Advance(TimeSpan.FromSeconds(10));
        router.Load.Complete(past);
        Assert.InRange(router.Load.BusyFraction("b"), 0.6, 0.66);

        // 8,192 cached tokens save ~285 ms on b; 600 ms × 0.63 is more, 0 (under the floor) is less.
        var decision = router.Select(new RoutingRequest("r", "m", Concat(shared, Tokens(2, 64)), 16), Two);

        Assert.Equal(expected, decision.Worker.InstanceId);
    }

    [Fact]
    public void Validate_NamesBadBusySettings()
    {
        var errors = new RouterOptions { BusyCostTokens = -1, BusyFloor = 1, BusyCostMs = -5 }.Validate();

        Assert.Contains(errors, e => e.StartsWith("Dynamo:Router:BusyCostTokens = '-1'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Dynamo:Router:BusyFloor = '1'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Dynamo:Router:BusyCostMs = '-5'", StringComparison.Ordinal));
        Assert.Empty(new RouterOptions().Validate());
    }

    private static (KvRouter Router, FakeTimeProvider Time) NewRouter(double busyCostMs, double floor = 0) =>
        NewRouter(new RouterOptions { BusyCostMs = busyCostMs, BusyFloor = floor, BalanceAbsoluteThreshold = 0 });

    private static (KvRouter Router, FakeTimeProvider Time) NewRouter(RouterOptions options)
    {
        var time = new FakeTimeProvider();
        var load = new ActiveLoadTracker(time, options.ActiveRequestTtl, options.BusyWindow);
        return (new KvRouter(options, new PrefixIndex(), load, indexer: null, approximate: null, sync: null, new Random(1)), time);
    }
}
