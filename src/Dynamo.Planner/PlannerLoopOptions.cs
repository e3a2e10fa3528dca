namespace Dynamo.Planner;

/// <summary>
/// How the live loop runs: how often it observes and decides, whether it acts, and how long a worker may take to
/// become ready before the loop gives it up. The policy's own settings (SLA, profiles, predictors, constraints) are
/// the policy's; these are only the loop's.
/// </summary>
public sealed record PlannerLoopOptions
{
    /// <summary>Time between two observe → decide → act steps.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Log and export decisions without carrying them out.</summary>
    public bool Advisory { get; init; }

    /// <summary>
    /// How long a pool may stay short of ready workers after a change was asked. Past it the workers still not ready
    /// are given up: counted as failed starts, and the pool's target is set back to what is ready, so a worker that
    /// can never start (no capacity, a bad image) does not hold every later decision back.
    /// </summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The problems of these options, each naming the key under <paramref name="section"/>; empty when valid.</summary>
    public IReadOnlyList<string> Problems(string section)
    {
        var problems = new List<string>();
        if (Interval <= TimeSpan.Zero)
        {
            problems.Add($"{section}:Interval = '{Interval}': must be positive, e.g. 00:00:05.");
        }

        if (ReadyTimeout <= TimeSpan.Zero)
        {
            problems.Add($"{section}:ReadyTimeout = '{ReadyTimeout}': must be positive, e.g. 00:05:00.");
        }

        return problems;
    }
}
