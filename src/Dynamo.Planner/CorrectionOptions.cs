namespace Dynamo.Planner;

/// <summary>Correction factors, observed ÷ profiled latency (<c>Dynamo:Planner:Correction</c>).</summary>
public sealed class CorrectionOptions
{
    /// <summary>Whether observed latencies correct the profile. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Lowest factor (the system is faster than profiled). Default 0.5.</summary>
    public double Min { get; set; } = 0.5;

    /// <summary>Highest factor (slower than profiled). Default 3.</summary>
    public double Max { get; set; } = 3;
}
