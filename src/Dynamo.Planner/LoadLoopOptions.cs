namespace Dynamo.Planner;

/// <summary>The reactive loop (<c>Dynamo:Planner:LoadLoop</c>) and the utilization the throughput loop plans for.</summary>
public sealed class LoadLoopOptions
{
    /// <summary>Whether the reactive (load) loop runs between throughput decisions. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Mean KV usage of a pool above which it gets one more worker. Default 0.9.</summary>
    public double KvUsageHigh { get; set; } = 0.9;

    /// <summary>
    /// A pool loses one worker when the last interval's load would keep one worker fewer below this fraction of
    /// their capacity at the SLA, and nothing waits. Default 0.5.
    /// </summary>
    public double IdleUtilization { get; set; } = 0.5;

    /// <summary>
    /// The highest utilization planned for a prefill worker, whatever the TTFT slack (queueing grows without bound
    /// near 1). Default 0.9.
    /// </summary>
    public double MaxPrefillUtilization { get; set; } = 0.9;

    /// <summary>
    /// A load step: when the request rate of each of the last three load intervals exceeds this multiple of the rate the
    /// pools were last planned for, the throughput loop's arithmetic runs at once on that recent rate (growing pools
    /// only) instead of waiting for the next throughput interval. Default 1.5.
    /// </summary>
    public double StepFactor { get; set; } = 1.5;

    /// <summary>Fraction of a worker's KV cache the decode plan fills at most (the rest absorbs growth). Default 0.9.</summary>
    public double KvHeadroom { get; set; } = 0.9;
}
