using Dynamo.Contracts;

namespace Dynamo.Bench.Replay;

/// <summary>
/// A change of the workers asked for per pool (the first entry is the size at the start): <c>scaling</c> in the JSON.
/// The counts are the pools' desired sizes from that moment; added workers join routing after the start-up delay.
/// </summary>
/// <param name="TimeS">Virtual seconds from the start.</param>
/// <param name="Workers">Desired workers per pool.</param>
/// <param name="Reason">The decision's reason code (<c>initial</c> for the first entry).</param>
public sealed record ScalingChange(double TimeS, IReadOnlyDictionary<WorkerRole, int> Workers, string Reason);

/// <summary>One planner decision in virtual time, for the log and <c>planner_decisions.csv</c>.</summary>
/// <param name="TimeS">Virtual seconds from the start.</param>
/// <param name="Observed">Requests per second observed over the interval.</param>
/// <param name="Decision">What the policy decided.</param>
/// <param name="Carried">Whether the decision changed a pool's desired size (advisory decisions never do).</param>
public sealed record TimedDecision(double TimeS, double Observed, Dynamo.Planner.PlannerDecision Decision, bool Carried);

/// <summary>Workers of one pool at one simulated instant, by state.</summary>
public readonly record struct PoolSample(double TimeS, WorkerRole Role, int Ready, int Starting, int Draining);
