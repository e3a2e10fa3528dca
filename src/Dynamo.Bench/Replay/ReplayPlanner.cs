using Dynamo.Planner;

namespace Dynamo.Bench.Replay;

/// <summary>
/// A scaling policy driving the simulated cluster (<c>dynamo replay --planner FILE</c>): the simulation calls it every
/// <see cref="IntervalS"/> of virtual time with what the simulated gateway and workers saw since the last call, and
/// carries out what it decides. Added workers serve after <see cref="StartupDelayS"/>; removed workers leave routing
/// at once and stop once their last request has finished.
/// </summary>
public sealed record ReplayPlanner
{
    /// <summary>The policy (the SLA planner, the threshold autoscaler, or a test's script).</summary>
    public required IScalingPolicy Policy { get; init; }

    /// <summary>Name shown in titles and the JSON (<c>planner</c>.<c>policy</c>).</summary>
    public string Name { get; init; } = "planner";

    /// <summary>Virtual seconds between calls of the policy. Default 5 (Dynamo's load loop).</summary>
    public double IntervalS { get; init; } = 5;

    /// <summary>Virtual seconds from asking for a worker to its serving (load, warm-up, registration). Default 60.</summary>
    public double StartupDelayS { get; init; } = 60;

    public string? FirstError()
    {
        if (!(IntervalS > 0 && double.IsFinite(IntervalS)))
        {
            return $"the planner interval must be > 0 seconds (got {IntervalS}).";
        }

        return StartupDelayS >= 0 && double.IsFinite(StartupDelayS)
            ? null
            : $"--startup-delay-s must be >= 0 seconds (got {StartupDelayS}).";
    }
}
