namespace Dynamo.Planner;

/// <summary>Latency targets (<c>Dynamo:Planner:Sla</c>).</summary>
public sealed class PlannerSlaOptions
{
    /// <summary>Time to first token, ms. Default 500.</summary>
    public double TtftMs { get; set; } = 500;

    /// <summary>Inter-token latency, ms. Default 50.</summary>
    public double ItlMs { get; set; } = 50;

    /// <summary>
    /// The fraction of requests the planner sizes to keep within both targets (the SLA attainment goal), in
    /// [0.5, 0.999]. Pools are sized so that this percentile of TTFT and of a request's mean ITL stays in target
    /// (queueing tails and load fluctuation, see <see cref="SlaPlanner.Plan"/>), not their means. Default 0.95.
    /// Null (an empty value): size for the mean TTFT and ITL, the planner's model before attainment sizing.
    /// </summary>
    public double? Attainment { get; set; } = 0.95;
}
