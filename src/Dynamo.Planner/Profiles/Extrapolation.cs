namespace Dynamo.Planner.Profiles;

/// <summary>What an interpolator returns outside its grid.</summary>
public enum Extrapolation
{
    /// <summary>The value at the nearest grid edge (safe for throughputs: never promises more than was measured).</summary>
    Clamp,

    /// <summary>
    /// The straight line of the nearest segment, continued (for latencies: they keep growing past the largest
    /// measured point, so clamping would promise too little latency). Never below zero.
    /// </summary>
    Linear,
}
