using System.Globalization;
using Dynamo.Contracts;

namespace Dynamo.Planner;

/// <summary>
/// What the policies share before and after deciding: the pools a mode needs, advisory mode, no new decision while a pool is not settled (except giving up
/// on workers that never became ready within the ready timeout), and the scale-down stabilization window.
/// State is driven only by the decision times given, so decisions replay identically in virtual time.
/// </summary>
internal sealed class ScalingGuards(PlannerOptions options)
{
    private readonly Dictionary<WorkerRole, (DateTimeOffset Since, int Desired)> _unsettled = [];
    private readonly Dictionary<WorkerRole, List<(DateTimeOffset At, int Count)>> _wishes = [];

    /// <summary>Workers given up on after the ready timeout, in all.</summary>
    public int WorkersGivenUp { get; private set; }

    /// <summary>
    /// A Pending or ReadyTimeout decision when some pool has not reached its desired count; null when every pool
    /// is settled.
    /// </summary>
    public PlannerDecision? CheckPending(PlannerInput input, double rate, double isl, double osl)
    {
        var targets = input.Pools.ToDictionary(p => p.Role, p => p.Desired);
        var waiting = new List<string>();
        var gaveUp = new List<string>();
        foreach (PoolState pool in input.Pools)
        {
            if (pool.Settled)
            {
                _unsettled.Remove(pool.Role);
                continue;
            }

            if (!_unsettled.TryGetValue(pool.Role, out var since) || since.Desired != pool.Desired)
            {
                since = (input.Now, pool.Desired);
                _unsettled[pool.Role] = since;
            }

            TimeSpan waited = input.Now - since.Since;
            string name = PoolConstraints.Name(pool.Role);
            if (pool.Ready < pool.Desired && waited >= options.ReadyTimeout)
            {
                // Scaling up and some workers never became ready (unschedulable, crashing): stop waiting for them.
                int lost = pool.Desired - pool.Ready;
                WorkersGivenUp += lost;
                targets[pool.Role] = pool.Ready;
                _unsettled.Remove(pool.Role);
                gaveUp.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{name}: {lost} of {pool.Desired} workers not ready after {waited.TotalSeconds:0} s (ReadyTimeout {options.ReadyTimeout.TotalSeconds:0} s), target lowered to the {pool.Ready} ready"));
            }
            else
            {
                waiting.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{name} desired {pool.Desired}, {pool.Actual} exist, {pool.Ready} ready for {waited.TotalSeconds:0} s"));
            }
        }

        if (gaveUp.Count > 0)
        {
            return new PlannerDecision(targets, DecisionReason.ReadyTimeout,
                $"gave up: {string.Join("; ", gaveUp)} ({WorkersGivenUp} given up in all)", rate, isl, osl);
        }

        if (waiting.Count == 0)
        {
            return null;
        }

        // While a change is carried out the pools' desired counts stand as the wish: the stabilization window of
        // a scale-down counts from when the pools settled, not from the decision that started the change.
        foreach (PoolState pool in input.Pools)
        {
            Record(pool.Role, input.Now, pool.Desired, pool.Desired);
        }

        return new PlannerDecision(targets, DecisionReason.Pending, $"waiting for the last change: {string.Join("; ", waiting)}", rate, isl, osl);
    }

    /// <summary>
    /// A Hold decision naming the pools this mode <paramref name="verb"/> (plans, scales) that the cluster lacks;
    /// null when it has them all.
    /// </summary>
    public PlannerDecision? MissingPools(IReadOnlyDictionary<WorkerRole, int> current, string verb, double rate, double isl, double osl)
    {
        WorkerRole[] missing = [.. options.Roles.Where(r => !current.ContainsKey(r))];
        return missing.Length == 0
            ? null
            : new PlannerDecision(current, DecisionReason.Hold,
                $"Mode {options.Mode} {verb} the {string.Join(" and ", options.Roles.Select(PoolConstraints.Name))} pools but the cluster has no {string.Join(" or ", missing.Select(PoolConstraints.Name))} pool (it has: {PoolConstraints.Describe(current)}); check Dynamo:Planner:Mode",
                rate, isl, osl);
    }

    /// <summary>In advisory mode, a decision that would change a pool is marked Advisory (logged, not carried out).</summary>
    public PlannerDecision Advise(PlannerDecision decision, IReadOnlyDictionary<WorkerRole, int> current) =>
        options.Advisory && decision.Targets.Any(t => current.TryGetValue(t.Key, out int n) && n != t.Value)
            ? decision with { Reason = DecisionReason.Advisory, Detail = $"advisory ({decision.Reason}): {decision.Detail}" }
            : decision;

    /// <summary>
    /// Records this decision's wish for a pool and returns the count to ask for: the wish when it grows or keeps
    /// the pool; when it shrinks it, no lower than the largest wish of the stabilization window (and never above
    /// the current count).
    /// </summary>
    public int Stabilize(WorkerRole role, DateTimeOffset now, int wish, int current)
    {
        List<(DateTimeOffset At, int Count)> history = Record(role, now, wish, current);
        if (wish >= current || options.ScaleDownStabilization <= TimeSpan.Zero)
        {
            return wish;
        }

        return Math.Min(current, history.Max(w => w.Count));
    }

    private List<(DateTimeOffset At, int Count)> Record(WorkerRole role, DateTimeOffset now, int wish, int current)
    {
        if (!_wishes.TryGetValue(role, out var history))
        {
            // The configured start size counts as the first wish: a fresh planner does not shrink at once.
            history = [(now, current)];
            _wishes[role] = history;
        }

        DateTimeOffset horizon = now - options.ScaleDownStabilization;
        history.RemoveAll(w => w.At <= horizon && w.At < now);
        history.Add((now, wish));
        return history;
    }
}
