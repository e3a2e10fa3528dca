namespace Dynamo.Planner;

/// <summary>The reactive baseline (<c>Dynamo:Planner:Threshold</c>, used with <c>Policy: threshold</c>).</summary>
public sealed class ThresholdOptions
{
    /// <summary>Waiting requests per worker the autoscaler aims at. Default 2.</summary>
    public double TargetQueuePerWorker { get; set; } = 2;

    /// <summary>Mean KV usage the autoscaler aims at. Default 0.7.</summary>
    public double TargetKvUsage { get; set; } = 0.7;

    /// <summary>No change while observed ÷ target is within 1 ± this (HPA's tolerance). Default 0.1.</summary>
    public double Tolerance { get; set; } = 0.1;
}
