namespace Dynamo.Planner;

/// <summary>What the profile expects for a steady load on pools of given sizes; <see cref="SlaPlanner.Expect"/> makes it.</summary>
/// <param name="TtftMs">Expected mean TTFT, ms; infinite when the prefill pool is saturated (utilization ≥ 1).</param>
/// <param name="ItlMs">Expected mean ITL, ms.</param>
/// <param name="PrefillUtilization">Uncached prompt tokens per second ÷ the pool's saturated prefill throughput.</param>
/// <param name="DecodeConcurrencyPerWorker">Sequences decoding at once on each decode worker (Little's law).</param>
public sealed record LatencyEstimate(double TtftMs, double ItlMs, double PrefillUtilization, double DecodeConcurrencyPerWorker);
