using System.Globalization;
using Dynamo.Contracts;
using Dynamo.Contracts.Engine;
using Dynamo.Planner.Profiles;

namespace Dynamo.Planner;

/// <summary>
/// The reactive baseline, like a Kubernetes HPA on two per-worker metrics: for each pool, every
/// <see cref="PlannerOptions.LoadInterval"/>, ratio = max(waiting requests per worker ÷
/// <see cref="ThresholdOptions.TargetQueuePerWorker"/>, mean KV usage ÷ <see cref="ThresholdOptions.TargetKvUsage"/>);
/// within 1 ± <see cref="ThresholdOptions.Tolerance"/> nothing changes, otherwise desired = ⌈current × ratio⌉.
/// No prediction, no profile latencies (the profile only says how many GPUs a worker takes, for the budget).
/// The same constraints as <see cref="SlaPlanner"/>: min/max, GPU budget, scale-down stabilization, pending, advisory.
/// </summary>
public sealed class ThresholdAutoscaler : IScalingPolicy
{
    private readonly PlannerOptions _options;
    private readonly PoolConstraints _constraints;
    private readonly ScalingGuards _guards;
    private DateTimeOffset? _lastDecision;

    /// <exception cref="ArgumentException">Invalid options, or a GPU budget the pools' minimums exceed.</exception>
    public ThresholdAutoscaler(PlannerOptions options, DeploymentProfile profile)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(profile);
        options.Validate(requireProfile: false);
        _options = options;
        _constraints = new PoolConstraints(options, profile);
        _guards = new ScalingGuards(options);
    }

    /// <summary>Workers given up on after the ready timeout, in all.</summary>
    public int WorkersGivenUp => _guards.WorkersGivenUp;

    public PlannerDecision Decide(PlannerInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        LoadObservation observation = input.Observation;
        var current = input.Pools.ToDictionary(p => p.Role, p => p.Desired);
        double rate = observation?.RequestRate ?? 0, isl = observation?.MeanInputTokens ?? 0, osl = observation?.MeanOutputTokens ?? 0;
        if (_guards.MissingPools(current, "scales", rate, isl, osl) is { } missing)
        {
            return missing;
        }

        if (observation is null || observation.Interval <= TimeSpan.Zero)
        {
            return new PlannerDecision(current, DecisionReason.NoData, "no observation this interval (metrics source unreachable): holding the current size", rate, isl, osl);
        }

        if (_guards.CheckPending(input, rate, isl, osl) is { } pending)
        {
            return _guards.Advise(pending, current);
        }

        if (_lastDecision is { } last && input.Now - last < _options.LoadInterval)
        {
            return new PlannerDecision(current, DecisionReason.Hold, "between intervals", rate, isl, osl);
        }

        _lastDecision = input.Now;
        ThresholdOptions t = _options.Threshold;
        var wanted = new Dictionary<WorkerRole, int>();
        var notes = new List<string>();
        foreach (WorkerRole role in _options.Roles)
        {
            int n = current[role];
            WorkerLoadReport[] reports = [.. observation.Workers.Where(w => w.Role == role)];
            if (reports.Length == 0)
            {
                wanted[role] = n;
                notes.Add($"{PoolConstraints.Name(role)}: no load reports");
                continue;
            }

            double queue = reports.Sum(r => (double)r.Load.WaitingRequests) / reports.Length;
            double kv = reports.Average(r => r.Load.KvUsage);
            double ratio = Math.Max(queue / t.TargetQueuePerWorker, kv / t.TargetKvUsage);
            wanted[role] = Math.Abs(ratio - 1) <= t.Tolerance ? n : (int)Math.Ceiling((n * ratio) - 1e-9);
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"{PoolConstraints.Name(role)}: queue {queue:0.##}/worker (target {t.TargetQueuePerWorker:0.##}), KV {kv:0.00} (target {t.TargetKvUsage:0.00}), ratio {ratio:0.00} → {wanted[role]}"));
        }

        (Dictionary<WorkerRole, int> counts, string? clamped) = _constraints.Apply(wanted);
        var targets = new Dictionary<WorkerRole, int>(current);
        var stabilized = new List<string>();
        foreach ((WorkerRole role, int wish) in counts)
        {
            targets[role] = _guards.Stabilize(role, input.Now, wish, current[role]);
            if (targets[role] > wish)
            {
                stabilized.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{PoolConstraints.Name(role)} kept at {targets[role]} (wants {wish}; scale-down stabilization {_options.ScaleDownStabilization.TotalSeconds:0} s)"));
            }
        }

        if (_constraints.FitBudget(targets, counts) is { } released)
        {
            stabilized.Add(released);
        }

        bool changes = targets.Any(p => p.Value != current[p.Key]);
        DecisionReason reason = clamped is not null ? DecisionReason.Clamped
            : changes ? DecisionReason.Load
            : stabilized.Count > 0 ? DecisionReason.Stabilizing
            : DecisionReason.Hold;
        string detail = $"threshold: {string.Join("; ", notes)}";
        if (clamped is not null)
        {
            detail += $"; clamped: {clamped}";
        }

        if (stabilized.Count > 0)
        {
            detail += $"; {string.Join("; ", stabilized)}";
        }

        return _guards.Advise(new PlannerDecision(targets, reason, $"{detail} → {PoolConstraints.Describe(targets)}", rate, isl, osl), current);
    }
}
