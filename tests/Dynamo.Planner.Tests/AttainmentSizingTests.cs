using Dynamo.Contracts;
using static Dynamo.Planner.Tests.PlannerFixture;

namespace Dynamo.Planner.Tests;

/// <summary>
/// Sizing for the SLA attainment goal (a percentile of requests within target, not the mean), the aggregated
/// workers' shared time, and the load loop's jump, on <see cref="SyntheticProfiles.Linear"/> with TTFT 300 ms and
/// ITL 30 ms: a 1000-token prompt takes t₀ = 100 ms alone, a worker takes 10,000 prompt tokens/s, a decode step with
/// c sequences takes 10 + 0.2c ms (100 sequences at 30 ms).
/// </summary>
public class AttainmentSizingTests
{
    private static PlannerOptions Attain(double? attainment, Action<PlannerOptions>? change = null) =>
        Options(o =>
        {
            o.Sla.Attainment = attainment;
            change?.Invoke(o);
        });

    [Theory]
    [InlineData(0.5, 0)]
    [InlineData(0.95, 1.6448536)]
    [InlineData(0.99, 2.3263479)]
    [InlineData(0.01, -2.3263479)]
    public void NormalQuantile_KnownValues(double p, double z) => Assert.Equal(z, Queueing.NormalQuantile(p), 6);

    [Fact]
    public void TtftFactor_MeanIsPollaczekKhinchine_PercentileIsTheWaitTail()
    {
        // M/D/1 at ρ = 0.5: mean wait t₀ ρ / 2(1 − ρ) = 0.5 t₀.
        Assert.Equal(1.5, Queueing.TtftFactor(0.5, null), 9);
        // 95th percentile: half the requests wait, those with a wait of mean t₀ / 2(1 − ρ) = t₀:
        // P(W > w) = 0.5 e^(−w/t₀) = 0.05 at w = ln 10 t₀.
        Assert.Equal(1 + Math.Log(10), Queueing.TtftFactor(0.5, 0.95), 9);
        // Under 1 − q of the requests wait at all: the percentile request does not wait.
        Assert.Equal(1, Queueing.TtftFactor(0.04, 0.95), 9);
        Assert.True(double.IsPositiveInfinity(Queueing.TtftFactor(1, 0.95)));
    }

    [Fact]
    public void MaxUtilization_InvertsTheFactor()
    {
        Assert.Equal(0.8, Queueing.MaxUtilization(3, null), 9); // 2(3 − 1) / (1 + 2(3 − 1))
        double rho = Queueing.MaxUtilization(3, 0.95);
        Assert.Equal(0.450446, rho, 5); // ln(ρ / 0.05) = 4(1 − ρ)
        Assert.Equal(3, Queueing.TtftFactor(rho, 0.95), 6);
        Assert.Equal(0, Queueing.MaxUtilization(0.9, 0.95));
    }

    [Fact]
    public void Plan_AtTheAttainmentPercentile_HoldsMoreHeadroomThanTheMean()
    {
        var mean = new SlaPlanner(Attain(null), SyntheticProfiles.Linear()).Plan(100, 1000, 100, 0);
        var p95 = new SlaPlanner(Attain(0.95, o => o.Sla.PromptScv = 0), SyntheticProfiles.Linear()).Plan(100, 1000, 100, 0);
        // Mean: prefill at ρ 0.8, 12.5 workers; decode 100 sequences a worker, 3.
        Assert.Equal((12.5, 3.0), (mean.PrefillWorkers, mean.DecodeWorkers));

        // 95th percentile of TTFT: ρ 0.4504, 100,000 ÷ 4504 = 22.2 prefill workers, TTFT p95 = 300 ms.
        Assert.Equal(100_000 / (10_000 * 0.450446), p95.PrefillWorkers, 3);
        Assert.Equal(300, p95.ExpectedTtftMs, 3);
        // Decode: c + 1.645 √c = 100 at c = 84.85 (ITL 26.97 ms): 100 × 100 × 0.02697 = 269.7 streams, 3.18 workers.
        Assert.Equal(84.8487, p95.DecodeConcurrencyPerWorker, 3);
        Assert.Equal(26.9697, p95.ExpectedItlMs, 3);
        Assert.Equal(3.1786, p95.DecodeWorkers, 3);
        Assert.Equal((23, 4), ((int)Math.Ceiling(p95.PrefillWorkers), (int)Math.Ceiling(p95.DecodeWorkers)));
    }

    [Fact]
    public void PrefillPool_TailOfVariedPrompts_IsSizedPerPoolSize()
    {
        // 4 req/s of 1,000-token prompts: 4,000 tok/s, ρ 0.4 on one worker (TTFT alone 100 ms, target 300 ms: ratio 3).
        var md1 = new SlaPlanner(Attain(0.95, o => o.Sla.PromptScv = 0), SyntheticProfiles.Linear()).Plan(4, 1000, 100, 0);
        var varied = new SlaPlanner(Attain(0.95), SyntheticProfiles.Linear()).Plan(4, 1000, 100, 0);

        // M/D/1 allows ρ 0.4504 a worker: one worker (0.888).
        Assert.Equal(0.4 / 0.450446, md1.PrefillWorkers, 3);
        // Cs² 1 on one worker (M/M/1 tail) allows only ρ 0.233: one is not enough. Two see Cs² ½ each and allow ρ 0.31:
        // 0.4 ÷ 0.31 = 1.29, two workers.
        double rhoOne = Queueing.MaxUtilization(3, 0.95, 1), rhoTwo = Queueing.MaxUtilization(3, 0.95, 0.5);
        Assert.InRange(rhoOne, 0.23, 0.24);
        Assert.InRange(rhoTwo, 0.30, 0.32);
        Assert.Equal(0.4 / rhoTwo, varied.PrefillWorkers, 3);
        Assert.Equal(300, varied.ExpectedTtftMs, 3);
        Assert.Equal((1, 2), ((int)Math.Ceiling(md1.PrefillWorkers), (int)Math.Ceiling(varied.PrefillWorkers)));

        // A large pool sees little of the variation: 100 req/s needs 23 workers either way (22.2 at M/D/1).
        var large = new SlaPlanner(Attain(0.95), SyntheticProfiles.Linear()).Plan(100, 1000, 100, 0);
        Assert.Equal(23, (int)Math.Ceiling(large.PrefillWorkers));
    }

    [Fact]
    public void PromptScv_OutOfRange_IsNamed()
    {
        Assert.Contains("Dynamo:Planner:Sla:PromptScv = '-1': must be a squared coefficient of variation between 0 and 16", string.Join("\n", Attain(0.95, o => o.Sla.PromptScv = -1).Problems()));
    }

    [Fact]
    public void Aggregated_PrefillShareAndDecodeStepShareOneWorkersTime()
    {
        // 100 req/s on n workers: prefill share ρ = 100,000 / 10,000n = 10/n; with gaps at the 30 ms target each
        // worker decodes c = 100 × 100 × 0.03 / n = 300/n sequences, a step of 10 + 60/n ms. Mean:
        // 10/n + (10 + 60/n)/30 ≤ 1  ⇔  12/n ≤ 2/3  ⇔  n ≥ 18, where the two pools' fractions only add to
        // 12.5 + 3 = 15.5 (16 workers: a decode gap there is (10 + 3.75)/(1 − 0.625) = 36.7 ms > 30).
        PoolPlan mean = new SlaPlanner(Attain(null, o => o.Mode = "agg"), SyntheticProfiles.Linear()).Plan(100, 1000, 100, 0);
        Assert.Equal(18, mean.AggregatedWorkers, 6);
        Assert.Equal(15.5, mean.PrefillWorkers + mean.DecodeWorkers, 6);

        // 95th percentile (TTFT target 1000 ms, so that the TTFT bound, ρ 0.845 and 11.8 workers, does not decide):
        // a request's ITL sees the prefill share of its own lifetime, in which c = 300/n prompts reach its worker:
        // 10/n (1 + 1.645 / √(300/n)) + (10 + 60/n)/30 ≤ 1 first at n = 25.14 (25: 1.003; 26: 0.981).
        PoolPlan p95 = new SlaPlanner(Attain(0.95, o => { o.Mode = "agg"; o.Sla.TtftMs = 1000; }), SyntheticProfiles.Linear()).Plan(100, 1000, 100, 0);
        Assert.Equal(25.1427, p95.AggregatedWorkers, 3);
        Assert.True(p95.PrefillWorkers < 15, $"{p95.PrefillWorkers}");
    }

    [Fact]
    public void Aggregated_NeverFewerThanThePrefillTtftNeeds()
    {
        // A loose ITL target (300 ms): the time bound needs 10/n + (10 + 0.2 × 30/n)/300 ≤ 1, n ≥ 10.4, fewer than
        // the TTFT bound (mean: 12.5 workers at ρ 0.8), which decides.
        PoolPlan plan = new SlaPlanner(Attain(null, o => { o.Mode = "agg"; o.Sla.ItlMs = 300; }), SyntheticProfiles.Linear()).Plan(100, 1000, 1, 0);
        Assert.Equal(12.5, plan.AggregatedWorkers, 6);
    }

    [Fact]
    public void AggregatedThroughputLoop_SizesThePoolForTheSharedTime()
    {
        var planner = new SlaPlanner(Attain(null, o => o.Mode = "agg"), SyntheticProfiles.Linear());
        var (last, _, _) = Run(planner, [new PoolState(WorkerRole.Aggregated, 1, 1, 1)], 0, 180, rate: 100);
        Assert.Equal(DecisionReason.Throughput, last.Reason);
        Assert.Equal(18, last.Targets[WorkerRole.Aggregated]);
        Assert.Contains("aggregated: prefill share", last.Detail);
    }

    [Fact]
    public void LoadLoop_AggregatedWorkersPrefillingMostOfTheirTime_JumpToWhatTheArrivalsNeed()
    {
        var planner = new SlaPlanner(Attain(null, o => o.Mode = "agg"), SyntheticProfiles.Linear());
        // Planned for 10 req/s (2 workers); the load jumps to 100 req/s. At 185 s the two workers report 50 sequences
        // each and spend 100,000 / 20,000 (capped at 0.95) of their time prefilling: decode gaps of 20 ms ÷ 0.05 =
        // 400 ms. The 500 arrivals of the last 5 s, less one Poisson deviation (√500), are 95.53 req/s, which need
        // 18 × 0.9553 = 17.2 workers: the pool goes to 18 at once, not by one.
        var (_, pools, _) = Run(planner, [new PoolState(WorkerRole.Aggregated, 1, 1, 1)], 0, 180, rate: 10);
        Assert.Equal(2, pools.Count(WorkerRole.Aggregated));
        var (last, grown, _) = Run(planner, pools, 185, 185, rate: 100,
            workers: p => [Report(WorkerRole.Aggregated, 0, running: 50), Report(WorkerRole.Aggregated, 1, running: 50)]);
        Assert.Equal(DecisionReason.Load, last.Reason);
        Assert.Equal(18, grown.Count(WorkerRole.Aggregated));
        Assert.Contains("workers +16: 50 sequences per worker with 5 of its time prefilling decode at ITL ≈ 400 ms > 30 ms; the last 5 s brought 500 requests, at least 95.53 req/s beyond noise, which need 18", last.Detail);
    }

    [Fact]
    public void LoadLoop_GrowsByOne_WhenTheArrivalsNeedNoMore()
    {
        var planner = new SlaPlanner(Attain(null), SyntheticProfiles.Linear());
        // 10 req/s needs 1.25 prefill workers, there are 2, but 5 wait at each: TTFT ≈ 600 ms. One more.
        var (last, pools, _) = Run(planner, Pools(2, 1), 0, 5, rate: 10,
            workers: p => [Report(WorkerRole.Prefill, 0, waiting: 5), Report(WorkerRole.Prefill, 1, waiting: 5), Report(WorkerRole.Decode, 0, running: 20)]);
        Assert.Equal(3, pools.Count(WorkerRole.Prefill));
        Assert.Contains("prefill +1: 5 waiting per worker", last.Detail);
    }

    [Fact]
    public void LoadLoop_DecodeJump_StaysWithinTheGpuBudget()
    {
        var planner = new SlaPlanner(Attain(null, o => o.GpuBudget = 4), SyntheticProfiles.Linear());
        // 100 req/s decoding at ITL 34 ms on one decode worker: (500 − √500) / 5 s = 95.53 req/s need 2.87 decode
        // workers, the jump wants 3: 2 + 3 = 5 GPUs > 4.
        var (last, pools, _) = Run(planner, Pools(2, 1), 0, 5, rate: 100,
            workers: p => [Report(WorkerRole.Prefill, 0), Report(WorkerRole.Prefill, 1), Report(WorkerRole.Decode, 0, running: 120)]);
        Assert.Equal(DecisionReason.Clamped, last.Reason);
        Assert.Contains("decode +2: 120 sequences per worker decode at ITL ≈ 34 ms > 30 ms; the last 5 s brought 500 requests, at least 95.53 req/s beyond noise, which need 3", last.Detail);
        Assert.True(pools.Count(WorkerRole.Prefill) + pools.Count(WorkerRole.Decode) <= 4, last.Detail);
    }

    [Fact]
    public void LoadLoop_GrowsToWhatTheSustainedArrivalsNeed_BeforeAnySignal()
    {
        var planner = new SlaPlanner(Attain(null), SyntheticProfiles.Linear());
        // Planned for 16 req/s: prefill 16,000 / 8000 = 2, decode 0.48 → 1.
        var (_, pools, _) = Run(planner, Pools(1, 1), 0, 180, rate: 16);
        Assert.Equal((2, 1), (pools.Count(WorkerRole.Prefill), pools.Count(WorkerRole.Decode)));

        // 23 req/s from 185 s: under the load step's 1.5 × 16, no queue, ITL in target. The last 15 s (16, 16, 23)
        // brought 275 requests, (275 − √275) / 15 s = 17.23 req/s beyond noise: 2.15 prefill workers, so 3.
        var (last, grown, _) = Run(planner, pools, 185, 185, rate: 23,
            workers: p => [Report(WorkerRole.Prefill, 0), Report(WorkerRole.Prefill, 1), Report(WorkerRole.Decode, 0, running: 5)]);
        Assert.Equal(DecisionReason.Load, last.Reason);
        Assert.Contains("prefill +1: the last 15 s brought at least 17.23 req/s beyond noise, which need 3 at the SLA", last.Detail);
        Assert.Equal((3, 1), (grown.Count(WorkerRole.Prefill), grown.Count(WorkerRole.Decode)));
    }

    [Fact]
    public void LoadLoop_SizesWithThePredictedOsl_NotTheShortOnesThatJustFinished()
    {
        var planner = new SlaPlanner(Attain(0.95, o => { o.Mode = "agg"; o.Sla.TtftMs = 1000; }), SyntheticProfiles.Linear());
        // Three minutes of OSL 100: the predictor holds 100. Then the requests finishing in the last 5 s are short
        // (OSL 5, the long ones still running) while 10 wait at every worker (TTFT ≈ 100 × 11 = 1100 ms > 1000): the
        // jump is sized for OSL 100. With OSL 5 a worker would hold under one sequence and the percentile of its
        // prefill share would ask for more workers.
        var (_, pools, _) = Run(planner, [new PoolState(WorkerRole.Aggregated, 1, 1, 1)], 0, 180, rate: 10);
        int n = pools.Count(WorkerRole.Aggregated);
        var (last, grown, _) = Run(planner, pools, 185, 185, rate: 20, osl: 5,
            workers: p => [.. Enumerable.Range(0, p.Count(WorkerRole.Aggregated)).Select(i => Report(WorkerRole.Aggregated, i, running: 40, waiting: 10))]);
        // 100 arrivals in 5 s, less √100, and 10 n waiting cleared within a load interval (no start-up time here).
        double rate = ((100 - 10) / 5.0) + (10.0 * n / 5);
        int withPredicted = (int)Math.Ceiling(planner.Plan(rate, 1000, 100, 0).AggregatedWorkers - 1e-9);
        int withFinished = (int)Math.Ceiling(planner.Plan(rate, 1000, 5, 0).AggregatedWorkers - 1e-9);
        Assert.True(withFinished > withPredicted, $"{withFinished} vs {withPredicted}");
        Assert.Equal(DecisionReason.Load, last.Reason);
        Assert.Contains($"which need {withPredicted}", last.Detail);
        Assert.Equal(withPredicted, grown.Count(WorkerRole.Aggregated));
    }

    [Fact]
    public void Attainment_ShipsAtTheGoalOfTheBenchmark_AndIsValidated()
    {
        Assert.Equal(0.95, new PlannerOptions().Sla.Attainment);
        foreach (double bad in new[] { 0.4, 1.0, double.NaN })
        {
            var options = new PlannerOptions { Profile = "p.json", Sla = new PlannerSlaOptions { Attainment = bad } };
            Assert.Contains(options.Problems(), p => p.StartsWith($"Dynamo:Planner:Sla:Attainment = '{bad}': must be a fraction of requests between 0.5 and 0.999", StringComparison.Ordinal));
        }

        Assert.Empty(new PlannerOptions { Profile = "p.json", Sla = new PlannerSlaOptions { Attainment = null } }.Problems());
    }

    [Fact]
    public void SameInputs_SameDecisions_AtThePercentile()
    {
        string Trace()
        {
            var planner = new SlaPlanner(Attain(0.95, o => { o.Mode = "agg"; o.Predictor.Kind = "kalman"; o.ScaleDownStabilization = TimeSpan.FromSeconds(120); }), SyntheticProfiles.Linear());
            PoolState[] pools = [new PoolState(WorkerRole.Aggregated, 1, 1, 1)];
            var lines = new List<string>();
            for (int step = 0; step < 8; step++)
            {
                var (last, next, _) = Run(planner, pools, step * 180, (step * 180) + 175, rate: step < 4 ? 20 * (step + 1) : 20 * (8 - step),
                    workers: p => [.. Enumerable.Range(0, p.Count(WorkerRole.Aggregated)).Select(i => Report(WorkerRole.Aggregated, i, running: 40, waiting: step == 1 ? 3 : 0))]);
                pools = next;
                lines.Add($"{last.Reason} {PoolConstraints.Describe(last.Targets)}");
            }

            return string.Join("\n", lines);
        }

        Assert.Equal(Trace(), Trace());
    }
}
