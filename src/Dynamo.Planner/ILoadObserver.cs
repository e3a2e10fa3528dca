using Dynamo.Contracts.Engine;

namespace Dynamo.Planner;

/// <summary>
/// Where the planner learns what the cluster is doing: the gateways' traffic over the last interval and the
/// workers' latest load reports (the <c>load_metrics</c> subject). Embedded: read in process; between
/// processes: NATS for the load reports and the frontends' <c>/metrics</c> for traffic.
/// </summary>
public interface ILoadObserver
{
    /// <summary>
    /// What happened since the previous call. Throws when the source cannot be reached; the planner then holds
    /// the current size and says so.
    /// </summary>
    Task<LoadObservation> ObserveAsync(CancellationToken cancellationToken);
}

/// <summary>Traffic and load over one observation interval.</summary>
/// <param name="At">End of the interval.</param>
/// <param name="Interval">Its length.</param>
/// <param name="Requests">Requests that arrived at the gateways in the interval.</param>
/// <param name="MeanInputTokens">Mean prompt length (ISL) of those requests; 0 when none.</param>
/// <param name="MeanOutputTokens">Mean output length (OSL) of the requests that finished; 0 when none.</param>
/// <param name="TtftMs">Mean time to first token of the requests that finished, ms; null when none.</param>
/// <param name="ItlMs">Mean inter-token latency, ms; null when none.</param>
/// <param name="KvHitRate">Fraction of prompt tokens served from prefix cache, 0..1.</param>
/// <param name="Workers">The newest load report of each live worker.</param>
public sealed record LoadObservation(
    DateTimeOffset At,
    TimeSpan Interval,
    long Requests,
    double MeanInputTokens,
    double MeanOutputTokens,
    double? TtftMs,
    double? ItlMs,
    double KvHitRate,
    IReadOnlyList<WorkerLoadReport> Workers)
{
    /// <summary>Requests per second over the interval.</summary>
    public double RequestRate => Interval <= TimeSpan.Zero ? 0 : Requests / Interval.TotalSeconds;
}
