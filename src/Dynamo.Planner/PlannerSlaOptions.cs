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

    /// <summary>
    /// How much prompt work varies, as the squared coefficient of variation Cs² of one prompt's prefill time, for the
    /// TTFT percentile of a prefill pool (with <see cref="Attainment"/>): a pool of c workers is sized with the tail of
    /// M/G/1 at Cs² ÷ c per worker (the router spreads the variation over c). Default 1: the Azure conversation
    /// trace's prompt lengths measure 0.92, and on the simulated engine one prefill worker at ρ 0.45 shows a TTFT p95
    /// of 663 ms where Cs² 1 predicts 555 and 0 (deterministic, M/D/1) 332; four at ρ 0.52 show 508 ms where Cs² ¼
    /// predicts about 450 (bench/README.md, P8). 0: every worker M/D/1, the model before.
    /// </summary>
    public double PromptScv { get; set; } = 1;
}
