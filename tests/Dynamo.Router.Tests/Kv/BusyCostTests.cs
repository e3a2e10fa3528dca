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

    private static (KvRouter Router, FakeTimeProvider Time) NewRouter(double busyCostMs)
    {
        var time = new FakeTimeProvider();
        var options = new RouterOptions { BusyCostMs = busyCostMs, BalanceAbsoluteThreshold = 0 };
        var load = new ActiveLoadTracker(time, options.ActiveRequestTtl, options.BusyWindow);
        return (new KvRouter(options, new PrefixIndex(), load, indexer: null, approximate: null, sync: null, new Random(1)), time);
    }
}
