using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Routing;
using Dynamo.Router.Kv;
using Dynamo.Router.Load;
using Dynamo.Router.Policies;
using Dynamo.Router.Sessions;
using Microsoft.Extensions.Time.Testing;
using static Dynamo.Router.Tests.TestSupport;

namespace Dynamo.Router.Tests;

/// <summary>
/// <c>nvext.session_id</c>: a session sticks to its worker in every mode while that worker is a candidate and not over
/// the balance thresholds, moves when it is, and re-homes (then sticks again) when its worker leaves.
/// </summary>
public sealed class SessionAffinityTests
{
    private static readonly WorkerInstance[] Three = [Instance("a"), Instance("b"), Instance("c")];

    public static TheoryData<RouterMode> Modes() => new() { RouterMode.Kv, RouterMode.RoundRobin, RouterMode.Random, RouterMode.LeastLoaded };

    [Theory]
    [MemberData(nameof(Modes))]
    public void Session_StaysOnItsWorker_AcrossTurns(RouterMode mode)
    {
        var router = RouterFactory.Create(new RouterOptions { Mode = mode, Seed = 3 });
        var first = router.Select(Turn("s1", 0), Three);
        Assert.Equal(SessionRouting.New, first.Session);

        for (var turn = 1; turn < 12; turn++)
        {
            // Other traffic in between moves round-robin's cursor and least-loaded's counts.
            router.Complete(router.Select(new RoutingRequest($"other{turn}", "m", Tokens(1000 + turn, 64), 8), Three));
            var next = router.Select(Turn("s1", turn), Three);
            Assert.Equal(first.Worker.InstanceId, next.Worker.InstanceId);
            Assert.Equal(SessionRouting.Hit, next.Session);
            router.Complete(next);
        }

        // Requests without a session are not pinned: round-robin still cycles.
        if (mode == RouterMode.RoundRobin)
        {
            var plain = Enumerable.Range(0, 3).Select(i => router.Select(new RoutingRequest($"p{i}", "m", Tokens(i, 16), 8), Three).Worker.InstanceId);
            Assert.Equal(3, plain.Distinct().Count());
        }
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Session_MovesWhenItsWorkerIsOverloaded_AndStaysOnTheNewOne(RouterMode mode)
    {
        var options = new RouterOptions { Mode = mode, Seed = 5, BalanceAbsoluteThreshold = 2, BalanceRelativeThreshold = 1.5 };
        var router = RouterFactory.Create(options);
        var home = router.Select(Turn("s1", 0), Three).Worker;

        // Two more turns in flight stay (1 and 2 in flight are within 2 of the idle workers); with three, 3 − 0 > 2
        // and 3 > 1.5 · 0: overloaded.
        for (var i = 0; i < 2; i++)
        {
            var pinned = router.Select(Turn("s1", 10 + i), Three);
            Assert.Equal(home.InstanceId, pinned.Worker.InstanceId);
        }

        var moved = router.Select(Turn("s1", 1), Three);
        Assert.NotEqual(home.InstanceId, moved.Worker.InstanceId);
        Assert.Equal(SessionRouting.Moved, moved.Session);

        var next = router.Select(Turn("s1", 2), Three);
        Assert.Equal(moved.Worker.InstanceId, next.Worker.InstanceId);
        Assert.Equal(SessionRouting.Hit, next.Session);
    }

    [Fact]
    public void Session_WithinTheThresholds_StaysEvenWhenAnotherWorkerIsCheaper()
    {
        // kv: an idle worker holding the prompt would win; the session's busier worker keeps it (2 − 0 is not above 8).
        var router = Assert.IsType<KvRouter>(RouterFactory.Create(new RouterOptions { Mode = RouterMode.Kv }));
        var prompt = Tokens(7, 160);
        var home = router.Select(Turn("s1", 0, prompt), Three).Worker;
        router.Select(new RoutingRequest("busy", "m", Tokens(8, 160), 8) { Hints = new RequestHints("s1", null, 0) }, Three);
        var other = Three.First(w => w.InstanceId != home.InstanceId);
        router.Index.Store(router.Index.GetOrAddWorker(other.InstanceId), Contracts.KvEvents.StorageTier.Device, Hashes(prompt));

        Assert.NotEqual(home.InstanceId, router.Select(new RoutingRequest("plain", "m", prompt, 8), Three).Worker.InstanceId);
        Assert.Equal(home.InstanceId, router.Select(Turn("s1", 1, prompt), Three).Worker.InstanceId);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Session_SurvivesItsWorkersRemoval_ReHomedAndStickyAgain(RouterMode mode)
    {
        var router = RouterFactory.Create(new RouterOptions { Mode = mode, Seed = 9 });
        var home = router.Select(Turn("s1", 0), Three).Worker;

        // The worker leaves discovery: the gateway drops it from the candidates and tells the router.
        router.RemoveWorker(home.InstanceId);
        var remaining = Three.Where(w => w.InstanceId != home.InstanceId).ToArray();
        var rehomed = router.Select(Turn("s1", 1), remaining);
        Assert.NotEqual(home.InstanceId, rehomed.Worker.InstanceId);
        Assert.Equal(SessionRouting.New, rehomed.Session);
        router.Complete(rehomed);

        // A session's turns come one after another: each completes before the next is sent.
        for (var turn = 2; turn < 8; turn++)
        {
            var decision = router.Select(Turn("s1", turn), remaining);
            Assert.Equal(rehomed.Worker.InstanceId, decision.Worker.InstanceId);
            router.Complete(decision);
        }

        // The old worker coming back does not pull the session back: it lives where it was re-homed.
        Assert.Equal(rehomed.Worker.InstanceId, router.Select(Turn("s1", 9), Three).Worker.InstanceId);
    }

    [Fact]
    public void Session_WhoseWorkerIsNotACandidate_Moves()
    {
        // Unhealthy or failed during this request: the gateway leaves it out of the candidates without removing it.
        var router = RouterFactory.Create(new RouterOptions { Mode = RouterMode.LeastLoaded, Seed = 1 });
        var home = router.Select(Turn("s1", 0), Three).Worker;
        var moved = router.Select(Turn("s1", 1), [.. Three.Where(w => w.InstanceId != home.InstanceId)]);
        Assert.Equal(SessionRouting.Moved, moved.Session);
        Assert.Equal(moved.Worker.InstanceId, router.Select(Turn("s1", 2), Three).Worker.InstanceId);
    }

    [Fact]
    public void Sessions_AreForgottenAfterTheirTtl_AndBeyondTheBound()
    {
        var time = new FakeTimeProvider();
        var sessions = new SessionAffinity(new RouterOptions { SessionTtl = TimeSpan.FromMinutes(5), MaxSessions = 3 }, time);
        var router = new RoundRobinRouter(new ActiveLoadTracker(time, TimeSpan.FromMinutes(10)), sessions);
        router.Select(Turn("s1", 0), Three);
        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(SessionRouting.Hit, router.Select(Turn("s1", 1), Three).Session);
        time.Advance(TimeSpan.FromMinutes(4));
        Assert.NotNull(sessions.WorkerOf("s1"));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Null(sessions.WorkerOf("s1"));
        Assert.Equal(SessionRouting.New, router.Select(Turn("s1", 2), Three).Session);

        // Three more sessions: the least recently used (s1) goes.
        foreach (var id in new[] { "s2", "s3", "s4" })
        {
            router.Select(Turn(id, 0), Three);
        }

        Assert.Equal(3, sessions.Count);
        Assert.Null(sessions.WorkerOf("s1"));
        Assert.NotNull(sessions.WorkerOf("s4"));
    }

    [Fact]
    public void ExpectedOutputTokens_ReplacesTheConfiguredLength_InThePredictorsDecodeTerm()
    {
        var predictor = new TtftPredictor(new RouterTiming(), decodeImpactWeight: 1, expectedOutputTokens: 256);
        var load = new ActiveLoad(4, 0, 40);
        var configured = predictor.DecodeImpact(0, load, 160, 16);
        Assert.Equal(configured, predictor.DecodeImpact(0, load, 160, 16, 256), 9);

        // The E terms are linear in E: 10 tokens cost a tenth of 100, and the prefill stall (no E) is the same.
        var stall = predictor.DecodeImpact(0, load, 160, 16, 0);
        var ten = predictor.DecodeImpact(0, load, 160, 16, 10) - stall;
        var hundred = predictor.DecodeImpact(0, load, 160, 16, 100) - stall;
        Assert.True(ten > 0);
        Assert.Equal(hundred, ten * 10, 6);
        Assert.Equal(predictor.Ttft(0, load, 160, 16) + predictor.DecodeImpact(0, load, 160, 16, 10), predictor.Cost(0, load, 160, 16, 10), 6);
    }

    [Fact]
    public void ExpectedOutputTokens_ChangesTheKvRoutersChoice()
    {
        // a holds the prompt but is decoding long contexts; b is idle. With a long expected output, a's decode
        // penalty (its E steps among a's batch) outweighs the cache hit; with a short one, the hit wins.
        var router = Assert.IsType<KvRouter>(RouterFactory.Create(new RouterOptions { Mode = RouterMode.Kv, DecodeImpactWeight = 1, BalanceAbsoluteThreshold = 0 }));
        WorkerInstance[] two = [Instance("a"), Instance("b")];
        var prompt = Tokens(3, 1024);
        router.Index.Store(router.Index.GetOrAddWorker("a"), Contracts.KvEvents.StorageTier.Device, Hashes(prompt));
        for (var i = 0; i < 6; i++)
        {
            var busy = new RoutingDecision($"busy{i}", two[0], 0, 4000);
            router.Load.Add(busy);
            router.Load.MarkPrefilled(busy);
        }

        var shortAnswer = router.Select(new RoutingRequest("short", "m", prompt, 4096) { Hints = new RequestHints(null, 1, 0) }, two);
        router.Complete(shortAnswer);
        var longAnswer = router.Select(new RoutingRequest("long", "m", prompt, 4096) { Hints = new RequestHints(null, 4000, 0) }, two);

        Assert.Equal("a", shortAnswer.Worker.InstanceId);
        Assert.Equal("b", longAnswer.Worker.InstanceId);
    }

    private static RoutingRequest Turn(string session, int turn, int[]? prompt = null) =>
        new($"{session}-t{turn}", "m", prompt ?? Tokens(turn + 1, 64), 8) { Hints = new RequestHints(session, null, 0) };
}
