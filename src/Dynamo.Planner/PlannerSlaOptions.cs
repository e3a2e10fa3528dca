namespace Dynamo.Planner;

/// <summary>Latency targets (<c>Dynamo:Planner:Sla</c>).</summary>
public sealed class PlannerSlaOptions
{
    /// <summary>Time to first token, ms. Default 500.</summary>
    public double TtftMs { get; set; } = 500;

    /// <summary>Inter-token latency, ms. Default 50.</summary>
    public double ItlMs { get; set; } = 50;
}
