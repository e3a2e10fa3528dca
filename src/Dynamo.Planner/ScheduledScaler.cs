using System.Globalization;
using Dynamo.Contracts;
using Dynamo.Planner.Profiles;

namespace Dynamo.Planner;

/// <summary>
/// Scaling on a timetable (<c>Policy: schedule</c>, like a cron scaler for load known in advance): the pools follow
/// <see cref="PlannerOptions.Schedule"/>, counted from the policy's first decision. No observation is read, so in
/// <c>dynamo replay --planner</c> a schedule written from the load itself is the clairvoyant bound a causal planner is
/// measured against (bench/README.md, P8). Each change is asked for when it is due, through the same constraints as
/// the other policies (min/max, GPU budget, advisory) and the same "no new change while one is carried out" guard;
/// there is no stabilization window: the timetable says when to shrink.
/// </summary>
public sealed class ScheduledScaler : IScalingPolicy
{
    private readonly PlannerOptions _options;
    private readonly PoolConstraints _constraints;
    private readonly ScalingGuards _guards;
    private readonly IReadOnlyList<ScheduleEntry> _schedule;
    private DateTimeOffset? _start;

    /// <exception cref="ArgumentException">Invalid options or schedule, or a GPU budget the pools' minimums exceed.</exception>
    public ScheduledScaler(PlannerOptions options, DeploymentProfile profile)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(profile);
        options.Validate(requireProfile: false);
        _options = options;
        _constraints = new PoolConstraints(options, profile);
        _guards = new ScalingGuards(options);
        _schedule = ScheduleEntry.Parse(options.Schedule, options.Mode);
    }

    /// <summary>Workers given up on after the ready timeout, in all.</summary>
    public int WorkersGivenUp => _guards.WorkersGivenUp;

    public PlannerDecision Decide(PlannerInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        LoadObservation? observation = input.Observation;
        double rate = observation?.RequestRate ?? 0, isl = observation?.MeanInputTokens ?? 0, osl = observation?.MeanOutputTokens ?? 0;
        var current = input.Pools.ToDictionary(p => p.Role, p => p.Desired);
        if (_guards.MissingPools(current, "scales", rate, isl, osl) is { } missing)
        {
            return missing;
        }

        _start ??= input.Now;
        double elapsed = (input.Now - _start.Value).TotalSeconds;
        ScheduleEntry? due = null;
        foreach (ScheduleEntry entry in _schedule)
        {
            if (entry.AtSeconds <= elapsed + 1e-9)
            {
                due = entry;
            }
        }

        if (due is null)
        {
            return new PlannerDecision(current, DecisionReason.Hold, string.Create(CultureInfo.InvariantCulture,
                $"schedule: nothing due yet at {elapsed:0} s (first entry at {_schedule[0].AtSeconds:0} s)"), rate, isl, osl);
        }

        if (_guards.CheckPending(input, rate, isl, osl) is { } pending)
        {
            return _guards.Advise(pending, current);
        }

        var wanted = new Dictionary<WorkerRole, int>();
        foreach (WorkerRole role in _options.Roles)
        {
            wanted[role] = due.Counts[role];
        }

        (Dictionary<WorkerRole, int> targets, string? clamped) = _constraints.Apply(wanted);
        bool changes = targets.Any(p => p.Value != current[p.Key]);
        DecisionReason reason = clamped is not null ? DecisionReason.Clamped : changes ? DecisionReason.Scheduled : DecisionReason.Hold;
        string detail = string.Create(CultureInfo.InvariantCulture,
            $"schedule: entry at {due.AtSeconds:0} s ({elapsed:0} s since start) wants {PoolConstraints.Describe(wanted)}");
        if (clamped is not null)
        {
            detail += $"; clamped: {clamped}";
        }

        return _guards.Advise(new PlannerDecision(targets, reason, $"{detail} → {PoolConstraints.Describe(targets)}", rate, isl, osl), current);
    }
}

/// <summary>One entry of <see cref="PlannerOptions.Schedule"/>: from <see cref="AtSeconds"/> on, these counts.</summary>
public sealed record ScheduleEntry(double AtSeconds, IReadOnlyDictionary<WorkerRole, int> Counts)
{
    /// <summary>
    /// Parses <c>T:N,T:N,...</c> (mode agg: N aggregated workers) or <c>T:P/D,...</c> (mode disagg: P prefill and D
    /// decode workers), T in seconds from the start, strictly increasing, the first at 0.
    /// </summary>
    /// <exception cref="ArgumentException">The text does not parse; the message names the entry and the form expected.</exception>
    public static IReadOnlyList<ScheduleEntry> Parse(string? text, string mode)
    {
        const string Key = PlannerOptions.SectionName + ":Schedule";
        string form = mode == "agg" ? "T:N (seconds from the start : aggregated workers), e.g. '0:2,540:6,1140:2'" : "T:P/D (seconds from the start : prefill/decode workers), e.g. '0:1/2,540:3/4,1140:1/2'";
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ArgumentException($"{Key} is empty: Policy schedule needs a timetable of {form}.");
        }

        var entries = new List<ScheduleEntry>();
        foreach (string raw in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = raw.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || !double.TryParse(raw[..colon], NumberStyles.Float, CultureInfo.InvariantCulture, out double at) || !double.IsFinite(at) || at < 0)
            {
                throw new ArgumentException($"{Key} entry '{raw}': expected {form}, with T a number of seconds >= 0.");
            }

            string counts = raw[(colon + 1)..];
            var map = new Dictionary<WorkerRole, int>();
            if (mode == "agg")
            {
                map[WorkerRole.Aggregated] = ParseCount(counts, raw, Key, form);
            }
            else
            {
                string[] parts = counts.Split('/');
                if (parts.Length != 2)
                {
                    throw new ArgumentException($"{Key} entry '{raw}': expected {form} (Mode disagg needs prefill/decode counts).");
                }

                map[WorkerRole.Prefill] = ParseCount(parts[0], raw, Key, form);
                map[WorkerRole.Decode] = ParseCount(parts[1], raw, Key, form);
            }

            if (entries.Count > 0 && at <= entries[^1].AtSeconds)
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"{Key} entry '{raw}': times must increase (the entry before is at {entries[^1].AtSeconds} s)."));
            }

            entries.Add(new ScheduleEntry(at, map));
        }

        if (entries.Count == 0)
        {
            throw new ArgumentException($"{Key} is empty: Policy schedule needs a timetable of {form}.");
        }

        if (entries[0].AtSeconds != 0)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"{Key}: the first entry is at {entries[0].AtSeconds} s; start the timetable at 0 (the counts to begin with)."));
        }

        return entries;
    }

    private static int ParseCount(string text, string raw, string key, string form) =>
        int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n <= 1024
            ? n
            : throw new ArgumentException($"{key} entry '{raw}': '{text.Trim()}' is not a worker count (a whole number 0-1024); expected {form}.");
}
