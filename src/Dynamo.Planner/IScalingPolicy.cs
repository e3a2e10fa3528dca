using Dynamo.Contracts;

namespace Dynamo.Planner;

/// <summary>
/// The planner's decision, separated from time and I/O: given what was observed and the pools as they are,
/// how many workers each pool should have and why. Deterministic for its inputs (the policy may keep state
/// between calls, e.g. a predictor's history or a stabilization window, driven only by <see cref="PlannerInput.Now"/>),
/// so the live loop and <c>dynamo replay --planner</c> in virtual time make the same decisions.
/// </summary>
public interface IScalingPolicy
{
    PlannerDecision Decide(PlannerInput input);
}

/// <summary>What a decision is made from.</summary>
/// <param name="Now">The decision time (wall clock live, virtual time in replay).</param>
/// <param name="Observation">Traffic and load over the last interval.</param>
/// <param name="Pools">Each pool's desired, actual and ready counts from the connector.</param>
public sealed record PlannerInput(DateTimeOffset Now, LoadObservation Observation, IReadOnlyList<PoolState> Pools);

/// <summary>Why a decision came out as it did; exported as the <c>reason</c> label and logged.</summary>
public enum DecisionReason
{
    /// <summary>Targets equal the current counts.</summary>
    Hold,
    /// <summary>The previous change is still being carried out (a pool not settled); nothing new is asked.</summary>
    Pending,
    /// <summary>The predictive (throughput) loop: predicted demand over the profile's capacity per worker at the SLA.</summary>
    Throughput,
    /// <summary>The reactive (load) loop: queues or KV usage say the SLA is about to be missed, or a pool idles.</summary>
    Load,
    /// <summary>A timetable entry came due (<c>Policy: schedule</c>).</summary>
    Scheduled,
    /// <summary>A wanted count was lowered to fit the GPU budget or a pool's maximum.</summary>
    Clamped,
    /// <summary>A scale-down was wanted but the stabilization window has not passed.</summary>
    Stabilizing,
    /// <summary>No observation could be made (metrics source unreachable): the current size is held.</summary>
    NoData,
    /// <summary>Advisory mode: the decision is logged and exported, not carried out.</summary>
    Advisory,
    /// <summary>
    /// A pool did not reach its desired count within the ready timeout: the workers that never became ready are
    /// given up on (the target drops to the ready count) so the planner is not stuck waiting for them.
    /// </summary>
    ReadyTimeout,
}

/// <summary>A decision: wanted workers per pool, the reason, and the figures behind it (logged and exported).</summary>
/// <param name="Targets">Wanted workers per pool (every pool of the input).</param>
/// <param name="Reason">The reason code.</param>
/// <param name="Detail">A sentence a person can read: the inputs and the arithmetic that led here.</param>
/// <param name="PredictedRequestRate">The request rate predicted for the next interval, req/s.</param>
/// <param name="PredictedInputTokens">The mean ISL predicted for the next interval.</param>
/// <param name="PredictedOutputTokens">The mean OSL predicted for the next interval.</param>
public sealed record PlannerDecision(
    IReadOnlyDictionary<WorkerRole, int> Targets,
    DecisionReason Reason,
    string Detail,
    double PredictedRequestRate,
    double PredictedInputTokens,
    double PredictedOutputTokens)
{
    /// <summary>Whether carrying this out changes any pool's desired count.</summary>
    public bool ChangesAnything(IReadOnlyList<PoolState> pools) =>
        pools.Any(p => Targets.TryGetValue(p.Role, out var n) && n != p.Desired);
}
