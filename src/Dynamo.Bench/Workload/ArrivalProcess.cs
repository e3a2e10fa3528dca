namespace Dynamo.Bench.Workload;

/// <summary>How requests arrive in open-loop runs.</summary>
public enum ArrivalProcess
{
    /// <summary>Exponential gaps at the given mean rate.</summary>
    Poisson,

    /// <summary>Evenly spaced at the given rate.</summary>
    Constant,

    /// <summary>The timestamps of the trace (optionally sped up).</summary>
    Trace,
}
