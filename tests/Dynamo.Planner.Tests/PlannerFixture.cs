using Dynamo.Contracts;
using Dynamo.Contracts.Engine;

namespace Dynamo.Planner.Tests;

/// <summary>Builds planner inputs: observations of a steady load and pools as a connector reports them.</summary>
internal static class PlannerFixture
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// Options for hand-checked arithmetic: constant predictor, no start-up look-ahead, TTFT 300 ms, ITL 30 ms, sized
    /// for mean latencies (no attainment percentile; tests of the percentile set <c>Sla.Attainment</c>).
    /// </summary>
    public static PlannerOptions Options(Action<PlannerOptions>? change = null)
    {
        var options = new PlannerOptions
        {
            Profile = "unused.json",
            Sla = new PlannerSlaOptions { TtftMs = 300, ItlMs = 30, Attainment = null },
            Predictor = new PredictorOptions { Kind = "constant" },
            WorkerStartupTime = TimeSpan.Zero,
            ScaleDownStabilization = TimeSpan.Zero,
            ThroughputInterval = TimeSpan.FromSeconds(180),
            LoadInterval = TimeSpan.FromSeconds(5),
        };
        change?.Invoke(options);
        return options;
    }

    public static WorkerLoadReport Report(WorkerRole role, int i, int running = 0, int waiting = 0, double kvUsage = 0) =>
        new($"{role}-{i}", "m", role, Start, new EngineLoad
        {
            RunningRequests = running,
            WaitingRequests = waiting,
            KvBlocksTotal = 1000,
            KvBlocksUsed = (int)(kvUsage * 1000),
        });

    /// <summary>An observation of <paramref name="seconds"/> at <paramref name="rate"/> req/s, ISL and OSL as given.</summary>
    public static LoadObservation Observation(DateTimeOffset at, double rate, double isl = 1000, double osl = 100, double seconds = 5, double? ttftMs = null, double? itlMs = null, IReadOnlyList<WorkerLoadReport>? workers = null) =>
        new(at, TimeSpan.FromSeconds(seconds), (long)Math.Round(rate * seconds), rate > 0 ? isl : 0, rate > 0 ? osl : 0, ttftMs, itlMs, 0, workers ?? []);

    public static PoolState[] Pools(int prefill, int decode) =>
        [new PoolState(WorkerRole.Prefill, prefill, prefill, prefill), new PoolState(WorkerRole.Decode, decode, decode, decode)];

    /// <summary>
    /// Runs the policy every 5 s from <paramref name="from"/> to <paramref name="to"/> seconds at a steady load,
    /// carrying out each decision at once (pools settle immediately); returns the last decision and the pools.
    /// </summary>
    public static (PlannerDecision Last, PoolState[] Pools, List<PlannerDecision> All) Run(IScalingPolicy policy, PoolState[] pools, double from, double to, double rate, double isl = 1000, double osl = 100, Func<PoolState[], IReadOnlyList<WorkerLoadReport>>? workers = null)
    {
        var all = new List<PlannerDecision>();
        PlannerDecision last = null!;
        for (double t = from; t <= to + 1e-9; t += 5)
        {
            DateTimeOffset now = Start.AddSeconds(t);
            last = policy.Decide(new PlannerInput(now, Observation(now, rate, isl, osl, workers: workers?.Invoke(pools)), pools));
            all.Add(last);
            if (last.Reason != DecisionReason.Advisory)
            {
                pools = [.. pools.Select(p => last.Targets.TryGetValue(p.Role, out int n) ? new PoolState(p.Role, n, n, n) : p)];
            }
        }

        return (last, pools, all);
    }

    public static int Count(this PoolState[] pools, WorkerRole role) => pools.Single(p => p.Role == role).Desired;
}
