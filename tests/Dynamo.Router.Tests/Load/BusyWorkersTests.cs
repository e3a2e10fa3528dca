using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.Routing;
using Dynamo.Router.Load;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Time.Testing;
using static Dynamo.Router.Tests.TestSupport;

namespace Dynamo.Router.Tests.Load;

/// <summary>
/// The busy thresholds over the workers' load reports: a worker at or over a threshold is filtered out while another
/// is not, a stale or missing report never makes it busy, the router's own requests move the waiting count between
/// reports, and all-busy is signalled (and its end woken) for the gateway.
/// </summary>
public sealed class BusyWorkersTests : IAsyncDisposable
{
    private static readonly WorkerInstance[] Two = [Instance("a"), Instance("b")];
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly WorkerLoadBoard _board;
    private readonly BusyWorkers _busy;

    public BusyWorkersTests()
    {
        _board = WorkerLoadBoard.Start(new InProcessEventPlane(), TimeSpan.FromSeconds(3), _time);
        _busy = new BusyWorkers(new RouterOptions { BusyKvUsage = 0.9, BusyWaitingRequests = 4, LoadReportMaxAge = TimeSpan.FromSeconds(3) }, _board, ownsBoard: true, _time);
    }

    public ValueTask DisposeAsync() => _busy.DisposeAsync();

    [Theory]
    [InlineData(89, false)]
    [InlineData(90, true)]
    [InlineData(100, true)]
    public void KvUsage_AtOrOverTheThreshold_TakesTheWorkerOutOfTheCandidates(int usedOfHundred, bool busy)
    {
        Report("a", kvUsed: usedOfHundred);
        Report("b", kvUsed: 10);

        Assert.Equal(busy, _busy.IsBusy("a"));
        Assert.Equal(busy ? ["b"] : ["a", "b"], _busy.Free(Two).Select(w => w.InstanceId));
        Assert.False(_busy.AllBusy(Two));
        Assert.Equal(busy ? 1 : 0, _busy.BusyCount(BusyReason.KvUsage));
        Assert.Equal(0, _busy.BusyCount(BusyReason.WaitingRequests));
    }

    [Theory]
    [InlineData(3, false)]
    [InlineData(4, true)]
    public void WaitingRequests_AtOrOverTheThreshold_TakesTheWorkerOutOfTheCandidates(int waiting, bool busy)
    {
        Report("a", waiting: waiting);
        Report("b");

        Assert.Equal(busy ? ["b"] : ["a", "b"], _busy.Free(Two).Select(w => w.InstanceId));
        Assert.Equal(busy ? 1 : 0, _busy.BusyCount(BusyReason.WaitingRequests));
        if (!busy)
        {
            // A queue under the threshold costs the decision nothing: the same list, not a copy.
            Assert.Same(Two, _busy.Free(Two));
        }
    }

    [Fact]
    public void WaitingCount_MovesWithTheRoutersOwnRequests_OnlyWhileTheReportShowsAQueue()
    {
        Report("a", waiting: 2);
        _busy.Routed("a");
        Assert.False(_busy.IsBusy("a"));
        _busy.Routed("a");
        Assert.True(_busy.IsBusy("a"), "2 waiting + 2 sent since the report = 4: at the threshold");
        _busy.Completed("a");
        Assert.False(_busy.IsBusy("a"), "a completion lets one waiting request into the batch");

        // A new report replaces the router's tally; without a queue in it, requests sent there are taken to fit the batch.
        Report("a", waiting: 0);
        for (var i = 0; i < 10; i++)
        {
            _busy.Routed("a");
        }

        Assert.False(_busy.IsBusy("a"));
    }

    [Fact]
    public void StaleOrMissingReport_NeverMarksAWorkerBusy()
    {
        Assert.Equal(["a", "b"], _busy.Free(Two).Select(w => w.InstanceId));

        Report("a", kvUsed: 99, waiting: 50);
        Assert.True(_busy.IsBusy("a"));

        _time.Advance(TimeSpan.FromSeconds(3.5));
        Assert.False(_busy.IsBusy("a"));
        Assert.Equal(["a", "b"], _busy.Free(Two).Select(w => w.InstanceId));
        Assert.False(_busy.AllBusy(Two));
    }

    [Fact]
    public async Task AllBusy_IsSignalled_AndAReportOrACompletionWakesTheWait()
    {
        Report("a", kvUsed: 95);
        Report("b", waiting: 4);

        Assert.True(_busy.AllBusy(Two));
        Assert.Same(Two, _busy.Free(Two));

        var changed = _busy.Changed;
        Assert.False(changed.IsCompleted);
        _busy.Completed("b");
        await Within(changed, "the change signal after a completion");
        Assert.False(_busy.AllBusy(Two), "b's queue drained by one: 3 waiting");

        changed = _busy.Changed;
        Report("b", waiting: 9);
        await Within(changed, "the change signal after a report");
        Assert.True(_busy.AllBusy(Two));

        _busy.RemoveWorker("b");
        Assert.False(_busy.AllBusy(Two), "a worker that left is forgotten (not busy)");
    }

    [Fact]
    public async Task Thresholds_OffOrNoEventPlane_MeanNoAvailability()
    {
        var events = new InProcessEventPlane();
        Assert.Null(BusyWorkers.Start(new RouterOptions { BusyKvUsage = 0, BusyWaitingRequests = 0 }, events, _time));
        Assert.Null(BusyWorkers.Start(new RouterOptions(), events: null, _time));
        Assert.Null(RouterFactory.Create(new RouterOptions { Mode = RouterMode.RoundRobin }).Availability);
        await using var on = BusyWorkers.Start(new RouterOptions(), events, _time);
        Assert.NotNull(on);
    }

    public static TheoryData<RouterMode> Modes() => new() { RouterMode.Kv, RouterMode.RoundRobin, RouterMode.Random, RouterMode.LeastLoaded };

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task EveryMode_SkipsABusyWorker_AndASessionMovesOffIt(RouterMode mode)
    {
        var events = new InProcessEventPlane();
        var router = RouterFactory.Create(new RouterOptions { Mode = mode, Seed = 11 }, new RouterServices { Events = events });
        await using var lifetime = (IAsyncDisposable)router;
        var availability = router.Availability ?? throw new InvalidOperationException("the default thresholds are on");

        // The session starts on a; then a's KV fills (reported on load_metrics, as a worker publishes).
        var home = router.Select(new RoutingRequest("s0", "m", Tokens(1, 64), 8) { Hints = new RequestHints("s", null, 0) }, [Two[0]]);
        Assert.Equal("a", home.Worker.InstanceId);
        router.Complete(home);
        // The board's subscription is live once its loop runs: publish until the report lands.
        for (var i = 0; i < 500 && availability.BusyCount(BusyReason.KvUsage) == 0; i++)
        {
            await events.PublishAsync(EventSubjects.LoadMetrics, new WorkerLoadReport("a", "m", WorkerRole.Aggregated, DateTimeOffset.UtcNow,
                new EngineLoad { RunningRequests = 30, KvBlocksUsed = 99, KvBlocksTotal = 100 }));
            await Task.Delay(10);
        }

        Assert.Equal(1, availability.BusyCount(BusyReason.KvUsage));

        var moved = router.Select(new RoutingRequest("s1", "m", Tokens(1, 64), 8) { Hints = new RequestHints("s", null, 0) }, Two);
        Assert.Equal("b", moved.Worker.InstanceId);
        Assert.Equal(SessionRouting.Moved, moved.Session);
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal("b", router.Select(new RoutingRequest($"r{i}", "m", Tokens(1, 64), 8), Two).Worker.InstanceId);
        }

        Assert.False(availability.AllBusy(Two));
        Assert.True(availability.AllBusy([Two[0]]));
    }

    [Theory]
    [InlineData(-0.1, 0, "00:00:03", "Dynamo:Router:BusyKvUsage = '-0.1'")]
    [InlineData(1.5, 0, "00:00:03", "Dynamo:Router:BusyKvUsage = '1.5'")]
    [InlineData(0.9, -1, "00:00:03", "Dynamo:Router:BusyWaitingRequests = '-1'")]
    [InlineData(0.9, 4, "00:00:00", "Dynamo:Router:LoadReportMaxAge = '00:00:00'")]
    public void BadThresholds_AreRefused_NamingTheKey(double kv, int waiting, string maxAge, string expected)
    {
        var options = new RouterOptions { BusyKvUsage = kv, BusyWaitingRequests = waiting, LoadReportMaxAge = TimeSpan.Parse(maxAge, System.Globalization.CultureInfo.InvariantCulture) };
        Assert.Contains(options.Validate(), e => e.StartsWith(expected, StringComparison.Ordinal));
        var error = Assert.Throws<ArgumentException>(() => RouterFactory.Create(options));
        Assert.Contains(expected, error.Message);
    }

    private void Report(string worker, int kvUsed = 0, int waiting = 0) =>
        _board.Add(new WorkerLoadReport(worker, "m", WorkerRole.Aggregated, _time.GetUtcNow(), new EngineLoad
        {
            RunningRequests = 1,
            WaitingRequests = waiting,
            KvBlocksUsed = kvUsed,
            KvBlocksTotal = 100,
        }));
}
