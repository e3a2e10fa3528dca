using Dynamo.Contracts;
using static Dynamo.Planner.Tests.PlannerFixture;

namespace Dynamo.Planner.Tests;

public class ThresholdAutoscalerTests
{
    [Fact]
    public void Ratio_OfQueueAndKvToTheirTargets_ScalesEachPool()
    {
        var scaler = new ThresholdAutoscaler(Options(), SyntheticProfiles.Linear());
        // Prefill: 6 waiting per worker ÷ target 2 = 3 → ⌈2 × 3⌉ = 6. Decode: KV 0.35 ÷ 0.7 = 0.5 → ⌈4 × 0.5⌉ = 2.
        var (last, pools, _) = Run(scaler, Pools(2, 4), 0, 0, rate: 10,
            workers: p => [Report(WorkerRole.Prefill, 0, waiting: 6), Report(WorkerRole.Prefill, 1, waiting: 6), .. Enumerable.Range(0, 4).Select(i => Report(WorkerRole.Decode, i, kvUsage: 0.35))]);
        Assert.Equal(DecisionReason.Load, last.Reason);
        Assert.Equal((6, 2), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));
        Assert.Contains("prefill: queue 6/worker (target 2), KV 0.00 (target 0.70), ratio 3.00 → 6", last.Detail);
    }

    [Fact]
    public void WithinTolerance_Holds()
    {
        var scaler = new ThresholdAutoscaler(Options(), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(scaler, Pools(2, 2), 0, 0, rate: 10,
            workers: p => [Report(WorkerRole.Prefill, 0, waiting: 2), Report(WorkerRole.Prefill, 1, waiting: 2), Report(WorkerRole.Decode, 0, kvUsage: 0.75), Report(WorkerRole.Decode, 1, kvUsage: 0.7)]);
        Assert.Equal(DecisionReason.Hold, last.Reason); // ratios 1.0 and 1.04: inside 1 ± 0.1
        Assert.Equal((2, 2), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));
    }

    [Fact]
    public void ScaleDown_WaitsForTheStabilizationWindow_AndTheMinimum()
    {
        var scaler = new ThresholdAutoscaler(Options(o => o.ScaleDownStabilization = TimeSpan.FromSeconds(60)), SyntheticProfiles.Linear());
        var idle = (PoolState[] p) => (IReadOnlyList<Dynamo.Contracts.Engine.WorkerLoadReport>)[Report(WorkerRole.Prefill, 0), Report(WorkerRole.Decode, 0, kvUsage: 0.1)];
        var (_, held, decisions) = Run(scaler, Pools(4, 4), 0, 55, rate: 1, workers: idle);
        Assert.All(decisions, d => Assert.Equal(DecisionReason.Stabilizing, d.Reason));
        Assert.Equal((4, 4), (held.Count(WorkerRole.Prefill), held.Count(WorkerRole.Decode)));

        var (last, after, _) = Run(scaler, held, 60, 60, rate: 1, workers: idle);
        Assert.Equal(DecisionReason.Load, last.Reason);
        Assert.Equal((1, 1), (after.Count(WorkerRole.Prefill), after.Count(WorkerRole.Decode))); // ⌈4 × 0⌉ and ⌈4 × 0.14⌉, at least Min 1
    }

    [Fact]
    public void GpuBudget_Clamps()
    {
        var scaler = new ThresholdAutoscaler(Options(o => o.GpuBudget = 10), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(scaler, Pools(4, 4), 0, 0, rate: 10,
            workers: p => [Report(WorkerRole.Prefill, 0, waiting: 8), Report(WorkerRole.Decode, 0, kvUsage: 1.0)]);
        Assert.Equal(DecisionReason.Clamped, last.Reason);
        Assert.True(pools.Count(WorkerRole.Prefill) + pools.Count(WorkerRole.Decode) <= 10);
        Assert.Contains("budget 10", last.Detail);
    }

    [Fact]
    public void NoReports_HoldsThatPool_AndPendingWaits()
    {
        var scaler = new ThresholdAutoscaler(Options(), SyntheticProfiles.Linear());
        PlannerDecision d = scaler.Decide(new PlannerInput(Start, Observation(Start, 1), Pools(3, 3)));
        Assert.Equal(DecisionReason.Hold, d.Reason);
        Assert.Contains("prefill: no load reports", d.Detail);

        PoolState[] starting = [new PoolState(WorkerRole.Prefill, 3, 2, 2), new PoolState(WorkerRole.Decode, 3, 3, 3)];
        Assert.Equal(DecisionReason.Pending, scaler.Decide(new PlannerInput(Start.AddSeconds(5), Observation(Start.AddSeconds(5), 1), starting)).Reason);
    }

    [Fact]
    public void Advisory_DoesNotCarryOut()
    {
        var scaler = new ThresholdAutoscaler(Options(o => o.Advisory = true), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(scaler, Pools(1, 1), 0, 0, rate: 10, workers: p => [Report(WorkerRole.Prefill, 0, waiting: 10), Report(WorkerRole.Decode, 0, kvUsage: 0.7)]);
        Assert.Equal(DecisionReason.Advisory, last.Reason);
        Assert.Equal(5, last.Targets[WorkerRole.Prefill]);
        Assert.Equal(1, pools.Count(WorkerRole.Prefill));
    }

    [Fact]
    public void StabilizationWindow_CountsFromWhenTheScaleUpSettled()
    {
        // A scale-up that takes longer than the window to carry out must not let the pool fall back the moment it
        // settles (replay saw 16 → 9 → 2 → 1 → 16 within 15 s).
        var scaler = new ThresholdAutoscaler(Options(o => { o.ScaleDownStabilization = TimeSpan.FromSeconds(180); o.Prefill.Max = 16; }), SyntheticProfiles.Linear());
        var busy = (PoolState[] p) => (IReadOnlyList<Dynamo.Contracts.Engine.WorkerLoadReport>)[Report(WorkerRole.Prefill, 0, waiting: 40), Report(WorkerRole.Decode, 0, kvUsage: 0.7)];
        var (up, pools, _) = Run(scaler, Pools(1, 1), 0, 0, rate: 10, workers: busy);
        Assert.Equal(16, up.Targets[WorkerRole.Prefill]);

        PoolState[] starting = [new PoolState(WorkerRole.Prefill, 16, 16, 1), new PoolState(WorkerRole.Decode, 1, 1, 1)];
        for (int t = 5; t <= 250; t += 5)
        {
            DateTimeOffset now = Start.AddSeconds(t);
            Assert.Equal(DecisionReason.Pending, scaler.Decide(new PlannerInput(now, Observation(now, 10, workers: busy(starting)), starting)).Reason);
        }

        var idle = (PoolState[] p) => (IReadOnlyList<Dynamo.Contracts.Engine.WorkerLoadReport>)[.. Enumerable.Range(0, 16).Select(i => Report(WorkerRole.Prefill, i)), Report(WorkerRole.Decode, 0, kvUsage: 0.7)];
        var (_, held, decisions) = Run(scaler, Pools(16, 1), 255, 425, rate: 1, workers: idle);
        Assert.All(decisions, d => Assert.Equal(DecisionReason.Stabilizing, d.Reason));
        Assert.Equal(16, held.Count(WorkerRole.Prefill));
        var (_, after, _) = Run(scaler, held, 430, 430, rate: 1, workers: idle);
        Assert.Equal(1, after.Count(WorkerRole.Prefill)); // 180 s after the last pending decision (250 s)
    }
}
