namespace Dynamo.Planner;

/// <summary>
/// What the throughput loop computed for one predicted load (fractional workers before rounding up), with the
/// figures behind it; <see cref="SlaPlanner.Plan"/> makes it.
/// </summary>
/// <param name="RequestRate">Predicted requests per second.</param>
/// <param name="InputTokens">Predicted mean ISL.</param>
/// <param name="OutputTokens">Predicted mean OSL.</param>
/// <param name="PrefillWorkers">Prefill workers needed (fractional): prompt tokens per second ÷ <see cref="PrefillCapacityPerWorker"/>.</param>
/// <param name="DecodeWorkers">Decode workers needed (fractional): <see cref="DecodeStreams"/> ÷ <see cref="DecodeConcurrencyPerWorker"/>.</param>
/// <param name="PrefillCapacityPerWorker">Uncached prompt tokens per second one prefill worker takes within the TTFT target.</param>
/// <param name="PrefillUtilization">The fraction of a prefill worker's saturated throughput planned for (queueing headroom for TTFT).</param>
/// <param name="ExpectedTtftMs">TTFT expected at that utilization (profile × correction × queueing).</param>
/// <param name="DecodeStreams">Sequences decoding at once in the whole pool (Little's law: rate × OSL × ITL).</param>
/// <param name="DecodeConcurrencyPerWorker">Sequences one decode worker runs within the ITL target and its KV cache.</param>
/// <param name="ExpectedItlMs">ITL expected at that concurrency (profile × correction).</param>
/// <param name="AggregatedWorkers">Aggregated workers needed (fractional, mode agg): each does both jobs on one worker's time, so the prefill share of its time and its decode step ÷ the ITL target add up to at most one (<see cref="SlaPlanner.Plan"/>), and no fewer than <see cref="PrefillWorkers"/>.</param>
/// <param name="Warnings">Targets no configuration can meet (the plan is then a best effort), one sentence each.</param>
public sealed record PoolPlan(
    double RequestRate,
    double InputTokens,
    double OutputTokens,
    double PrefillWorkers,
    double DecodeWorkers,
    double PrefillCapacityPerWorker,
    double PrefillUtilization,
    double ExpectedTtftMs,
    double DecodeStreams,
    double DecodeConcurrencyPerWorker,
    double ExpectedItlMs,
    double AggregatedWorkers,
    IReadOnlyList<string> Warnings);
