namespace Dynamo.Bench.Load;

/// <summary>How a run issues its requests.</summary>
public sealed record LoadOptions
{
    /// <summary>Closed loop with this many requests in flight; null = open loop at the requests' arrival times.</summary>
    public int? Concurrency { get; init; }

    /// <summary>Stop issuing requests this long after the warm-up ends; null = when the workload ends.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Requests started before this are sent but not counted. Default 0.</summary>
    public TimeSpan Warmup { get; init; }

    /// <summary>Per-request limit; a request past it counts as a timeout. Default 10 minutes.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(10);
}
