namespace Dynamo.Bench.Replay;

/// <summary>One planner decision in virtual time, for the log and <c>planner_decisions.csv</c>.</summary>
/// <param name="TimeS">Virtual seconds from the start.</param>
/// <param name="Observed">Requests per second observed over the interval.</param>
/// <param name="Decision">What the policy decided.</param>
/// <param name="Carried">Whether the decision changed a pool's desired size (advisory decisions never do).</param>
public sealed record TimedDecision(double TimeS, double Observed, Dynamo.Planner.PlannerDecision Decision, bool Carried);
