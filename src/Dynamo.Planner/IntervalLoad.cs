namespace Dynamo.Planner;

/// <summary>
/// The load of one throughput interval, the unit the predictors learn from: requests that arrived, their mean ISL
/// and mean OSL. A trace cut into intervals is a warm start (<see cref="SlaPlanner.WarmStart"/>).
/// </summary>
public readonly record struct IntervalLoad(double Requests, double MeanInputTokens, double MeanOutputTokens)
{
    /// <summary>
    /// Cuts arrivals (time from the trace's start, prompt tokens, output tokens) into consecutive intervals of
    /// <paramref name="interval"/>, from 0 to the last arrival; an interval with no arrival has zero requests and
    /// zero lengths.
    /// </summary>
    public static IReadOnlyList<IntervalLoad> FromArrivals(IEnumerable<(TimeSpan At, int InputTokens, int OutputTokens)> arrivals, TimeSpan interval)
    {
        ArgumentNullException.ThrowIfNull(arrivals);
        if (interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "The interval must be positive.");
        }

        var sums = new List<(long Count, double Input, double Output)>();
        foreach ((TimeSpan at, int input, int output) in arrivals)
        {
            if (at < TimeSpan.Zero)
            {
                throw new ArgumentException($"An arrival at {at} is before the start.", nameof(arrivals));
            }

            int index = (int)(at.Ticks / interval.Ticks);
            while (sums.Count <= index)
            {
                sums.Add((0, 0, 0));
            }

            (long c, double i, double o) = sums[index];
            sums[index] = (c + 1, i + input, o + output);
        }

        return [.. sums.Select(s => s.Count == 0 ? new IntervalLoad(0, 0, 0) : new IntervalLoad(s.Count, s.Input / s.Count, s.Output / s.Count))];
    }
}
