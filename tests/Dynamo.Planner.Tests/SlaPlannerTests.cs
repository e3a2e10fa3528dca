using Dynamo.Contracts;
using static Dynamo.Planner.Tests.PlannerFixture;

namespace Dynamo.Planner.Tests;

/// <summary>
/// Decisions on <see cref="SyntheticProfiles.Linear"/> with TTFT 300 ms and ITL 30 ms, worked out by hand:
/// a 1000-token prompt takes 100 ms alone, so TTFT/t₀ = 3 and M/D/1 allows utilization 2(3−1)/(1+2(3−1)) = 0.8,
/// 8000 prompt tokens/s per prefill worker; ITL 10 + 0.2c = 30 gives 100 sequences per decode worker, and a
/// request of OSL 100 decodes for 100 × 30 ms = 3 s.
/// </summary>
public class SlaPlannerTests
{
    [Theory]
    [InlineData(10, 1000, 100, 1.25, 0.3)]    // 10,000 tok/s ÷ 8000; 10 × 100 × 0.03 = 30 streams ÷ 100
    [InlineData(100, 1000, 100, 12.5, 3)]
    [InlineData(20, 2000, 500, 8, 3)]         // t₀ 200 ms: utilization 0.5, 5000 tok/s; 20 × 500 × 0.03 = 300 streams
    [InlineData(0, 1000, 100, 0, 0)]
    public void Plan_GoldenWorkerCounts(double rate, double isl, double osl, double prefill, double decode)
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        PoolPlan plan = planner.Plan(rate, isl, osl, kvHitRate: 0);
        Assert.Equal(prefill, plan.PrefillWorkers, 6);
        Assert.Equal(decode, plan.DecodeWorkers, 6);
        Assert.Empty(plan.Warnings);
    }

    [Fact]
    public void Plan_PrefixHits_CutThePrefillWork()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        // Half the prompt cached: 500 uncached tokens, t₀ 50 ms, r = 6, utilization min(0.9, 10/11) = 0.9.
        PoolPlan plan = planner.Plan(100, 1000, 100, kvHitRate: 0.5);
        Assert.Equal(0.9, plan.PrefillUtilization, 9);
        Assert.Equal(100 * 500 / 9000.0, plan.PrefillWorkers, 6);
    }

    [Fact]
    public void Plan_KvCapacity_LimitsSequencesPerDecodeWorker()
    {
        // 3646 blocks × 16 × headroom 0.9 ÷ 1050-token context ≈ 50 sequences: ITL 20 ms, 100 × 100 × 0.02 = 200 streams.
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear(kvBlocks: 3646));
        PoolPlan plan = planner.Plan(100, 1000, 100, 0);
        Assert.Equal(50, plan.DecodeConcurrencyPerWorker, 2);
        Assert.Equal(20, plan.ExpectedItlMs, 2);
        Assert.Equal(4, Math.Ceiling(plan.DecodeWorkers));
    }

    [Fact]
    public void ThroughputLoop_AfterOneInterval_SizesBothPools()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        var (last, pools, all) = Run(planner, Pools(1, 1), 0, 180, rate: 100);

        // Nothing planned yet: three load intervals of traffic are a step, sized at once (10 s).
        Assert.Equal(DecisionReason.Throughput, all[2].Reason);
        Assert.Contains("load step: the last 15 s brought 100 req/s", all[2].Detail);
        Assert.Equal((13, 3), (all[2].Targets[WorkerRole.Prefill], all[2].Targets[WorkerRole.Decode]));
        Assert.All(all.Skip(3).SkipLast(1), d => Assert.Equal(DecisionReason.Hold, d.Reason)); // no load reports: the load loop holds
        Assert.Equal(DecisionReason.Throughput, last.Reason);
        Assert.Equal((13, 3), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));
        Assert.Equal(100, last.PredictedRequestRate, 6);
        Assert.Equal((1000, 100), (last.PredictedInputTokens, last.PredictedOutputTokens));
        Assert.Contains("predicted 100 req/s", last.Detail);
        Assert.Contains("prefill 13", last.Detail);
    }

    [Fact]
    public void WarmStart_PlansOnTheFirstDecision()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        planner.WarmStart([new IntervalLoad(5 * 180, 1000, 100), new IntervalLoad(100 * 180, 1000, 100)]);
        PlannerDecision first = planner.Decide(new PlannerInput(Start, Observation(Start, 100), Pools(1, 1)));
        Assert.Equal(DecisionReason.Throughput, first.Reason);
        Assert.Equal(13, first.Targets[WorkerRole.Prefill]);
        Assert.Equal(3, first.Targets[WorkerRole.Decode]);
    }

    [Fact]
    public void AggregatedMode_AddsThePrefillAndDecodeFractions()
    {
        var planner = new SlaPlanner(Options(o => o.Mode = "agg"), SyntheticProfiles.Linear());
        var (last, _, _) = Run(planner, [new PoolState(WorkerRole.Aggregated, 1, 1, 1)], 0, 180, rate: 10);
        Assert.Equal(DecisionReason.Throughput, last.Reason);
        Assert.Equal(2, last.Targets[WorkerRole.Aggregated]); // ⌈1.25 + 0.3⌉
    }

    [Fact]
    public void ModeWithoutItsPools_HoldsAndSaysWhichPoolIsMissing()
    {
        var planner = new SlaPlanner(Options(o => o.Mode = "agg"), SyntheticProfiles.Linear());
        PlannerDecision d = planner.Decide(new PlannerInput(Start, Observation(Start, 10), Pools(1, 1)));
        Assert.Equal(DecisionReason.Hold, d.Reason);
        Assert.Contains("no workers pool", d.Detail);
        Assert.Contains("Dynamo:Planner:Mode", d.Detail);
    }

    [Fact]
    public void GpuBudget_ClampsInProportionAndSaysWhy()
    {
        var planner = new SlaPlanner(Options(o => o.GpuBudget = 8), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(planner, Pools(1, 1), 0, 180, rate: 100);
        // 13 + 3 = 16 GPUs wanted: halved and floored to 6 + 1, the GPU left goes to decode (3/1 short vs 13/6).
        Assert.Equal(DecisionReason.Clamped, last.Reason);
        Assert.Equal((6, 2), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));
        Assert.Contains("need 16 GPUs > budget 8", last.Detail);
    }

    [Fact]
    public void GpuBudget_CountsGpusPerWorker()
    {
        var planner = new SlaPlanner(Options(o => o.GpuBudget = 16), SyntheticProfiles.Linear(gpusPerWorker: 4));
        // 4 GPUs a worker: prefill 40,000 tok/s × 0.8 → 100,000 / 32,000 = 3.1 → 4 workers, decode 3: 28 GPUs > 16.
        var (last, pools, _) = Run(planner, Pools(1, 1), 0, 180, rate: 100);
        Assert.Equal(DecisionReason.Clamped, last.Reason);
        Assert.True(pools.Count(WorkerRole.Prefill) * 4 + pools.Count(WorkerRole.Decode) * 4 <= 16, last.Detail);
        Assert.Equal((2, 2), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));
    }

    [Fact]
    public void PoolMaximum_Clamps()
    {
        var planner = new SlaPlanner(Options(o => o.Prefill.Max = 4), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(planner, Pools(1, 1), 0, 180, rate: 100);
        Assert.Equal(DecisionReason.Clamped, last.Reason);
        Assert.Equal(4, pools.Count(WorkerRole.Prefill));
        Assert.Contains("prefill 13 > max 4", last.Detail);
    }

    [Fact]
    public void BudgetBelowTheMinimums_IsRefusedAtStart()
    {
        var error = Assert.Throws<ArgumentException>(() => new SlaPlanner(Options(o => o.GpuBudget = 7), SyntheticProfiles.Linear(gpusPerWorker: 4)));
        Assert.Contains("Dynamo:Planner:GpuBudget = '7'", error.Message);
        Assert.Contains("need 8 GPUs", error.Message);
    }

    [Fact]
    public void UnsettledPool_IsPendingUntilTheReadyTimeout_ThenGivenUp()
    {
        var planner = new SlaPlanner(Options(o => o.ReadyTimeout = TimeSpan.FromSeconds(60)), SyntheticProfiles.Linear());
        PoolState[] starting = [new PoolState(WorkerRole.Prefill, 3, 3, 2), new PoolState(WorkerRole.Decode, 1, 1, 1)];

        PlannerDecision d = planner.Decide(new PlannerInput(Start, Observation(Start, 100), starting));
        Assert.Equal(DecisionReason.Pending, d.Reason);
        Assert.Equal(3, d.Targets[WorkerRole.Prefill]);
        Assert.False(d.ChangesAnything(starting));
        Assert.Contains("prefill desired 3, 3 exist, 2 ready", d.Detail);

        d = planner.Decide(new PlannerInput(Start.AddSeconds(55), Observation(Start.AddSeconds(55), 100), starting));
        Assert.Equal(DecisionReason.Pending, d.Reason);

        d = planner.Decide(new PlannerInput(Start.AddSeconds(60), Observation(Start.AddSeconds(60), 100), starting));
        Assert.Equal(DecisionReason.ReadyTimeout, d.Reason);
        Assert.Equal(2, d.Targets[WorkerRole.Prefill]);
        Assert.Equal(1, planner.WorkersGivenUp);
        Assert.Contains("1 of 3 workers not ready after 60 s", d.Detail);
    }

    [Fact]
    public void Pending_DelaysTheThroughputDecisionUntilSettled()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        Run(planner, Pools(1, 1), 0, 175, rate: 100);
        PoolState[] scaling = [new PoolState(WorkerRole.Prefill, 2, 2, 1), new PoolState(WorkerRole.Decode, 1, 1, 1)];
        Assert.Equal(DecisionReason.Pending, planner.Decide(new PlannerInput(Start.AddSeconds(180), Observation(Start.AddSeconds(180), 100), scaling)).Reason);
        PlannerDecision settled = planner.Decide(new PlannerInput(Start.AddSeconds(185), Observation(Start.AddSeconds(185), 100), Pools(2, 1)));
        Assert.Equal(DecisionReason.Throughput, settled.Reason);
        Assert.Equal(13, settled.Targets[WorkerRole.Prefill]);
    }

    [Fact]
    public void ScaleDown_WaitsForTheStabilizationWindow()
    {
        var planner = new SlaPlanner(Options(o => o.ScaleDownStabilization = TimeSpan.FromSeconds(300)), SyntheticProfiles.Linear());
        var (_, pools, _) = Run(planner, Pools(1, 1), 0, 180, rate: 100);
        Assert.Equal((13, 3), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));

        // Load falls to a tenth; the throughput loop wants 2 + 1 at 360 s, but 13 + 3 were wished until 355 s.
        var (_, held, decisions) = Run(planner, pools, 185, 650, rate: 10);
        Assert.Equal((13, 3), (held.Count(WorkerRole.Prefill), held.Count(WorkerRole.Decode)));
        PlannerDecision at360 = decisions[(360 - 185) / 5];
        Assert.Equal(DecisionReason.Stabilizing, at360.Reason);
        Assert.Contains("prefill kept at 13 (wants 2; scale-down stabilization 300 s)", at360.Detail);

        var (down, after, _) = Run(planner, held, 655, 655, rate: 10);
        Assert.Equal((2, 1), (after.Count(WorkerRole.Prefill), after.Count(WorkerRole.Decode)));
        Assert.NotEqual(DecisionReason.Stabilizing, down.Reason);
    }

    [Fact]
    public void ScaleUp_IsNotDelayedByStabilization()
    {
        var planner = new SlaPlanner(Options(o => o.ScaleDownStabilization = TimeSpan.FromSeconds(3600)), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(planner, Pools(1, 1), 0, 180, rate: 100);
        Assert.Equal(DecisionReason.Throughput, last.Reason);
        Assert.Equal(13, pools.Count(WorkerRole.Prefill));
    }

    [Fact]
    public void NoObservation_HoldsAndSaysSo()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        var empty = new LoadObservation(Start, TimeSpan.Zero, 0, 0, 0, null, null, 0, []);
        PlannerDecision d = planner.Decide(new PlannerInput(Start, empty, Pools(4, 2)));
        Assert.Equal(DecisionReason.NoData, d.Reason);
        Assert.Equal((4, 2), (d.Targets[WorkerRole.Prefill], d.Targets[WorkerRole.Decode]));
        Assert.Contains("unreachable", d.Detail);
    }

    [Fact]
    public void UnreachableTtft_WarnsAndPlansTheBestEffort()
    {
        var planner = new SlaPlanner(Options(o => o.Sla.TtftMs = 50), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(planner, Pools(1, 1), 0, 180, rate: 100);
        Assert.Equal(DecisionReason.Throughput, last.Reason);
        Assert.Contains("WARNING: TTFT target 50 ms cannot be met: a lone 1000-token prompt takes 100 ms", last.Detail);
        Assert.Equal(12, pools.Count(WorkerRole.Prefill)); // at the highest utilization, 0.9: 100,000 ÷ 9000 = 11.1
    }

    [Fact]
    public void UnreachableItl_WarnsAndPlansOneSequencePerWorker()
    {
        var planner = new SlaPlanner(Options(o => o.Sla.ItlMs = 10), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(planner, Pools(1, 1), 0, 180, rate: 10);
        Assert.Contains("WARNING: ITL target 10 ms cannot be met", last.Detail);
        Assert.Equal(11, pools.Count(WorkerRole.Decode)); // 10 × 100 × 10.2 ms = 10.2 streams, one per worker
    }

    [Fact]
    public void Advisory_ReportsTheDecisionWithoutCarryingItOut()
    {
        var planner = new SlaPlanner(Options(o => o.Advisory = true), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(planner, Pools(1, 1), 0, 180, rate: 100);
        Assert.Equal(DecisionReason.Advisory, last.Reason);
        Assert.Equal((13, 3), (last.Targets[WorkerRole.Prefill], last.Targets[WorkerRole.Decode]));
        Assert.StartsWith("advisory (Throughput): ", last.Detail);
        Assert.Equal((1, 1), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));
    }

    [Fact]
    public void LoadLoop_PrefillQueue_AddsOnePrefillWorker()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(planner, Pools(2, 1), 0, 5, rate: 10,
            workers: p => [Report(WorkerRole.Prefill, 0, waiting: 5), Report(WorkerRole.Prefill, 1, waiting: 5), Report(WorkerRole.Decode, 0, running: 20)]);
        Assert.Equal(DecisionReason.Load, last.Reason);
        Assert.Equal((3, 1), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));
        Assert.Contains("prefill +1: 5 waiting per worker: a new prompt would see TTFT ≈ 600 ms > 300 ms", last.Detail);
    }

    [Fact]
    public void LoadLoop_DecodeKvNearlyFull_AddsOneDecodeWorker()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(planner, Pools(2, 1), 0, 5, rate: 10,
            workers: p => [Report(WorkerRole.Prefill, 0), Report(WorkerRole.Prefill, 1), Report(WorkerRole.Decode, 0, running: 20, kvUsage: 0.95)]);
        Assert.Equal(DecisionReason.Load, last.Reason);
        Assert.Equal((2, 2), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));
        Assert.Contains("decode +1: KV usage 0.95 > 0.9", last.Detail);
    }

    [Fact]
    public void LoadLoop_DecodeItlOverTarget_AddsOneDecodeWorker()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(planner, Pools(2, 1), 0, 5, rate: 10,
            workers: p => [Report(WorkerRole.Prefill, 0), Report(WorkerRole.Prefill, 1), Report(WorkerRole.Decode, 0, running: 120)]);
        Assert.Equal(2, pools.Count(WorkerRole.Decode));
        Assert.Contains("decode +1: 120 sequences per worker decode at ITL ≈ 34 ms > 30 ms", last.Detail);
    }

    [Fact]
    public void LoadLoop_IdlePool_LosesOneWorkerPerInterval()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        // 10 req/s needs 1.25 prefill workers: with 6, one fewer (5) would still run at 1.25 ≤ 0.5 × 5.
        var (last, pools, decisions) = Run(planner, Pools(6, 1), 0, 10, rate: 10,
            workers: p => [.. Enumerable.Range(0, p.Count(WorkerRole.Prefill)).Select(i => Report(WorkerRole.Prefill, i)), Report(WorkerRole.Decode, 0, running: 3)]);
        Assert.Equal(DecisionReason.Hold, decisions[0].Reason); // the first call starts the clocks
        Assert.Equal(DecisionReason.Load, last.Reason);
        Assert.Equal(4, pools.Count(WorkerRole.Prefill)); // -1 at 5 s, -1 at 10 s
        Assert.Contains("prefill -1: idle", last.Detail);
    }

    [Fact]
    public void LoadLoop_Disabled_HoldsBetweenThroughputDecisions()
    {
        var planner = new SlaPlanner(Options(o => o.LoadLoop.Enabled = false), SyntheticProfiles.Linear());
        var (last, pools, _) = Run(planner, Pools(2, 1), 0, 30, rate: 10,
            workers: p => [Report(WorkerRole.Prefill, 0, waiting: 50), Report(WorkerRole.Decode, 0, kvUsage: 0.99)]);
        Assert.Equal(DecisionReason.Hold, last.Reason);
        Assert.Equal((2, 1), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));
    }

    [Fact]
    public void Corrections_ObservedSlowerThanProfiled_AddWorkers()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        // Two prefill workers at 10 req/s run at ρ = 0.5, where M/D/1 expects 150 ms; 300 ms observed: factor 2.
        // Decode at 50 sequences is profiled at 20 ms; 40 ms observed: factor 2.
        var workers = (PoolState[] p) => (IReadOnlyList<Dynamo.Contracts.Engine.WorkerLoadReport>)[Report(WorkerRole.Prefill, 0), Report(WorkerRole.Prefill, 1), Report(WorkerRole.Decode, 0, running: 50)];
        PoolState[] pools = Pools(2, 1);
        PlannerDecision last = null!;
        for (int t = 0; t <= 180; t += 5)
        {
            DateTimeOffset now = Start.AddSeconds(t);
            last = planner.Decide(new PlannerInput(now, Observation(now, 10, ttftMs: 300, itlMs: 40, workers: workers(pools)), pools));
        }

        Assert.Equal(DecisionReason.Throughput, last.Reason);
        Assert.Equal(2, planner.PrefillCorrection, 6);
        Assert.Equal(2, planner.DecodeCorrection, 6);
        // Prefill: t₀ 200 ms, utilization 0.5, 10,000 / 2 × 0.5 = 2500 tok/s: 4 workers. Decode: 2(10 + 0.2c) = 30
        // at c = 25, 10 × 100 × 0.03 = 30 streams: 1.2 → 2 workers.
        Assert.Equal((4, 2), (last.Targets[WorkerRole.Prefill], last.Targets[WorkerRole.Decode]));
        Assert.Contains("correction 2.00", last.Detail);
    }

    [Fact]
    public void Corrections_AreBounded()
    {
        var planner = new SlaPlanner(Options(o => o.Correction.Max = 1.5), SyntheticProfiles.Linear());
        PoolState[] pools = Pools(2, 1);
        for (int t = 0; t <= 180; t += 5)
        {
            DateTimeOffset now = Start.AddSeconds(t);
            planner.Decide(new PlannerInput(now, Observation(now, 10, itlMs: 400, workers: [Report(WorkerRole.Decode, 0, running: 50)]), pools));
        }

        Assert.Equal(1.5, planner.DecodeCorrection, 6);
    }

    [Fact]
    public void SameInputs_SameDecisions()
    {
        string Trace()
        {
            var planner = new SlaPlanner(Options(o => { o.Predictor.Kind = "kalman"; o.ScaleDownStabilization = TimeSpan.FromSeconds(120); }), SyntheticProfiles.Linear());
            var pools = Pools(1, 1);
            var lines = new List<string>();
            for (int step = 0; step < 8; step++)
            {
                var (last, next, _) = Run(planner, pools, step * 180, (step * 180) + 175, rate: step < 4 ? 20 * (step + 1) : 20 * (8 - step));
                pools = next;
                lines.Add($"{last.Reason} {PoolConstraints.Describe(last.Targets)}");
            }

            return string.Join("\n", lines);
        }

        Assert.Equal(Trace(), Trace());
    }

    [Fact]
    public void Expect_OnThePlannedSize_MeetsTheTargets_AndSolvesLittlesLaw()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        // 10 req/s on 2 prefill workers: ρ = 10,000 / 20,000 = 0.5, TTFT = 100 (1 + 0.5) = 150 ms.
        // Decode on 1 worker: c = 10 × 100 × (10 + 0.2c) / 1000 ⇒ c = 10 + 0.2c ⇒ c = 12.5, ITL = 12.5 ms.
        LatencyEstimate e = planner.Expect(10, 1000, 100, 0, prefillWorkers: 2, decodeWorkers: 1);
        Assert.Equal(0.5, e.PrefillUtilization, 9);
        Assert.Equal(150, e.TtftMs, 6);
        Assert.Equal(12.5, e.DecodeConcurrencyPerWorker, 6);
        Assert.Equal(12.5, e.ItlMs, 6);

        // At the planned size for 100 req/s (13 + 3) both targets hold.
        LatencyEstimate planned = planner.Expect(100, 1000, 100, 0, 13, 3);
        Assert.InRange(planned.TtftMs, 0, 300);
        Assert.InRange(planned.ItlMs, 0, 30);
        Assert.True(double.IsPositiveInfinity(planner.Expect(100, 1000, 100, 0, 5, 3).TtftMs)); // 100,000 tok/s > 50,000
    }

    [Fact]
    public void Stabilization_NeverHoldsThePoolsOverTheGpuBudget()
    {
        var planner = new SlaPlanner(Options(o => { o.GpuBudget = 8; o.ScaleDownStabilization = TimeSpan.FromSeconds(300); }), SyntheticProfiles.Linear());
        // Prompt-heavy load: prefill 50 × 1000 / 8000 = 6.25 → 7, decode 50 × 10 × 0.03 = 15 streams → 1; 8 GPUs.
        // Decode, held at 6 by the window, would make 13: it is let down to its wish instead.
        var (last, pools, _) = Run(planner, Pools(2, 6), 0, 180, rate: 50, osl: 10);
        Assert.Equal((7, 1), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));
        Assert.Contains("→ 1 before the stabilization window ends, to stay within the GPU budget 8", last.Detail);
    }

    [Fact]
    public void Corrections_SaturatedDecodeWindow_LeavesTheFactorAlone()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        PoolState[] pools = Pools(2, 1);
        for (int t = 0; t <= 180; t += 5)
        {
            DateTimeOffset now = Start.AddSeconds(t);
            // Requests queue for the decode batch: their gaps hold queueing, not step time.
            planner.Decide(new PlannerInput(now, Observation(now, 10, itlMs: 400, workers: [Report(WorkerRole.Decode, 0, running: 50, waiting: 30)]), pools));
        }

        Assert.Equal(1, planner.DecodeCorrection);
    }

    [Fact]
    public void LoadStep_PlansAtOnceOnTheRecentLoad_WithoutWaitingForTheInterval()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        var (_, pools, _) = Run(planner, Pools(1, 1), 0, 180, rate: 10); // planned for 10 req/s: 2 + 1
        Assert.Equal((2, 1), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));

        // The load jumps to 100 req/s at 185 s: after three load intervals of it (195 s) the pools are sized for it.
        var (_, grown, decisions) = Run(planner, pools, 185, 195, rate: 100);
        PlannerDecision step = decisions[^1];
        Assert.Equal(DecisionReason.Throughput, step.Reason);
        Assert.Contains("load step: the last 15 s brought 100 req/s (ISL 1000, OSL 100), over 1.5 × the 10 req/s the pools were planned for", step.Detail);
        Assert.Equal((13, 3), (grown.Count(WorkerRole.Prefill), grown.Count(WorkerRole.Decode)));
        Assert.Equal(100, step.PredictedRequestRate, 6);
    }

    [Fact]
    public void ScaleDown_NeverBelowWhatTheRecentLoadNeeds()
    {
        var planner = new SlaPlanner(Options(o => o.LoadLoop.StepFactor = 1e9), SyntheticProfiles.Linear());
        // A throughput decision planned for 10 req/s on a window the load left: the last 15 s run at 100 req/s.
        Run(planner, Pools(13, 3), 0, 165, rate: 10);
        var (last, pools, _) = Run(planner, Pools(13, 3), 170, 180, rate: 100);
        Assert.Equal((13, 3), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));
        Assert.Contains("prefill kept at 13: the last 15 s of load (100 req/s) need 13", last.Detail);
    }

    [Fact]
    public void Corrections_AggregatedWorkers_AllowForTheirPrefillShare()
    {
        var planner = new SlaPlanner(Options(o => o.Mode = "agg"), SyntheticProfiles.Linear());
        // 2 aggregated workers at 10 req/s of 1000-token prompts spend ρ = 10,000 / 20,000 = 0.5 of their time
        // prefilling, so decode gaps of 20 ms at 50 sequences become 40 ms: observed 40 ms is no correction.
        PoolState[] pools = [new PoolState(WorkerRole.Aggregated, 2, 2, 2)];
        for (int t = 0; t <= 180; t += 5)
        {
            DateTimeOffset now = Start.AddSeconds(t);
            planner.Decide(new PlannerInput(now, Observation(now, 10, itlMs: 40, workers: [Report(WorkerRole.Aggregated, 0, running: 50), Report(WorkerRole.Aggregated, 1, running: 50)]), pools));
        }

        Assert.Equal(1, planner.DecodeCorrection, 6);
    }

    [Fact]
    public void Corrections_LearnOnlyFromTheSteadyStretchOfTheWindow()
    {
        var planner = new SlaPlanner(Options(o => o.LoadLoop.Enabled = false), SyntheticProfiles.Linear());
        PoolState[] pools = Pools(2, 4);
        // The first minute a lone decode worker carries the load at 400 ms gaps (too small a pool, not a slow
        // profile); from 65 s four decode workers run at 50 sequences each, profiled at 20 ms, and 20 ms is observed.
        // A factor taken over the whole interval would be (12 × 400 + 24 × 20) / 36 / 20 ≈ 7 (bounded to 3) and
        // size every later interval for a profile three times slower than it is.
        for (int t = 0; t <= 180; t += 5)
        {
            DateTimeOffset now = Start.AddSeconds(t);
            IReadOnlyList<Dynamo.Contracts.Engine.WorkerLoadReport> workers = t < 65
                ? [Report(WorkerRole.Prefill, 0), Report(WorkerRole.Prefill, 1), Report(WorkerRole.Decode, 0, running: 50)]
                : [Report(WorkerRole.Prefill, 0), Report(WorkerRole.Prefill, 1), .. Enumerable.Range(0, 4).Select(i => Report(WorkerRole.Decode, i, running: 50))];
            planner.Decide(new PlannerInput(now, Observation(now, 10, itlMs: t < 65 ? 400 : 20, workers: workers), pools));
        }

        Assert.Equal(1, planner.DecodeCorrection, 6);
    }

    [Fact]
    public void Corrections_AShortSteadyStretch_KeepsTheFactorsLearntBefore()
    {
        var planner = new SlaPlanner(Options(o => o.LoadLoop.Enabled = false), SyntheticProfiles.Linear());
        PoolState[] pools = Pools(2, 1);
        // Requests queue at the decode worker until 150 s: the 30 s after are too few to learn from.
        for (int t = 0; t <= 180; t += 5)
        {
            DateTimeOffset now = Start.AddSeconds(t);
            planner.Decide(new PlannerInput(now, Observation(now, 10, itlMs: 400, workers: [Report(WorkerRole.Decode, 0, running: 50, waiting: t < 150 ? 5 : 0)]), pools));
        }

        Assert.Equal(1, planner.DecodeCorrection);
    }

    [Fact]
    public void ThroughputLoop_SizesWithTheWindowsHitRate_NotTheNewestIntervals()
    {
        var planner = new SlaPlanner(Options(o => o.LoadLoop.Enabled = false), SyntheticProfiles.Linear());
        PoolState[] pools = Pools(2, 1);
        PlannerDecision last = null!;
        // 10 req/s of 1000-token prompts, none cached, for three minutes; the newest 5 s bring one request that hits
        // the cache for 90 % of its prompt. Sized on that one the pool would plan 1,000 uncached tokens per second.
        for (int t = 0; t <= 180; t += 5)
        {
            DateTimeOffset now = Start.AddSeconds(t);
            LoadObservation o = t < 180 ? Observation(now, 10) : Observation(now, 0.2) with { KvHitRate = 0.9 };
            last = planner.Decide(new PlannerInput(now, o, pools));
        }

        Assert.Equal(DecisionReason.Throughput, last.Reason);
        Assert.Contains("KV hit 0.00", last.Detail);
        Assert.Equal(2, last.Targets[WorkerRole.Prefill]);
    }

    [Fact]
    public void LoadLoop_WithABacklog_PlansToClearItWithinAStartUpTime()
    {
        var planner = new SlaPlanner(Options(), SyntheticProfiles.Linear());
        var (_, pools, _) = Run(planner, Pools(1, 1), 0, 180, rate: 10);
        // 60 requests wait at the prefill workers; with no start-up time they are cleared within a load interval
        // (5 s): 12 req/s more. The load loop sees the queue in the first interval and goes at once to what the
        // arrivals beyond noise, (500 − √500) / 5 s = 95.53 req/s, and the queue need: 107,530 / 8000 = 13.4 → 14
        // prefill workers; the queue is gone once 14 serve. Decode grows without waiting for a signal, on the
        // arrivals of the last 15 s beyond noise: at 185 s (10, 10, 100 req/s: (600 − √600) / 15 s = 38.37, + 12 for
        // the queue) 1.51 → 2 workers; at 190 s (10, 100, 100: (1050 − √1050) / 15 s = 67.84 req/s, the queue gone)
        // 67.84 × 100 × 0.03 / 100 = 2.04 → 3.
        var (_, grown, decisions) = Run(planner, pools, 185, 195, rate: 100,
            workers: p => p.Count(WorkerRole.Prefill) >= 14
                ? [Report(WorkerRole.Prefill, 0), Report(WorkerRole.Decode, 0, running: 10)]
                : [Report(WorkerRole.Prefill, 0, waiting: 30), Report(WorkerRole.Prefill, 1, waiting: 30), Report(WorkerRole.Decode, 0, running: 10)]);
        Assert.Equal(DecisionReason.Load, decisions[0].Reason);
        Assert.Contains("prefill +12: 30 waiting per worker: a new prompt would see TTFT ≈ 3100 ms > 300 ms; the last 5 s brought 500 requests, at least 95.53 req/s beyond noise, + 12 req/s to clear the requests waiting, which need 14", decisions[0].Detail);
        Assert.Contains("decode +1: the last 15 s brought at least 38.37 req/s beyond noise, + 12 req/s to clear the requests waiting, which need 2 at the SLA", decisions[0].Detail);
        Assert.Contains("decode +1: the last 15 s brought at least 67.84 req/s beyond noise, which need 3 at the SLA", decisions[1].Detail);
        Assert.Equal((14, 3), (grown.Count(WorkerRole.Prefill), grown.Count(WorkerRole.Decode)));
    }
}
