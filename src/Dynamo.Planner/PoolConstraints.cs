using System.Globalization;
using Dynamo.Contracts;
using Dynamo.Planner.Profiles;

namespace Dynamo.Planner;

/// <summary>
/// The limits every wanted count passes through, in order: each pool's min and max, then the GPU budget (all pools
/// lowered in proportion, each kept at its min, the GPUs left handed back to the pool furthest below its wish).
/// </summary>
public sealed class PoolConstraints
{
    private readonly PlannerOptions _options;
    private readonly DeploymentProfile _profile;

    /// <exception cref="ArgumentException">The pools' minimums alone need more GPUs than the budget.</exception>
    public PoolConstraints(PlannerOptions options, DeploymentProfile profile)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(profile);
        _options = options;
        _profile = profile;
        if (options.GpuBudget is { } budget)
        {
            int minimum = options.Roles.Sum(r => options.Limits(r).Min * profile.GpusPerWorker(r));
            if (minimum > budget)
            {
                throw new ArgumentException(
                    $"{PlannerOptions.SectionName}:GpuBudget = '{budget}': the pools' minimums alone need {minimum} GPUs "
                    + $"({string.Join(" + ", options.Roles.Select(r => $"{options.Limits(r).Min} {Name(r)} × {profile.GpusPerWorker(r)}"))}); raise the budget or lower the minimums.");
            }
        }
    }

    /// <summary>GPUs the given counts use.</summary>
    public int Gpus(IReadOnlyDictionary<WorkerRole, int> counts) => counts.Sum(c => c.Value * _profile.GpusPerWorker(c.Key));

    /// <summary>
    /// The counts after min/max and the budget, and why they differ from <paramref name="wanted"/> (null when they
    /// do not, or when they were only raised to a minimum).
    /// </summary>
    public (Dictionary<WorkerRole, int> Counts, string? Clamped) Apply(IReadOnlyDictionary<WorkerRole, int> wanted)
    {
        ArgumentNullException.ThrowIfNull(wanted);
        var counts = new Dictionary<WorkerRole, int>();
        var why = new List<string>();
        foreach ((WorkerRole role, int n) in wanted)
        {
            PoolLimits limits = _options.Limits(role);
            counts[role] = Math.Clamp(n, limits.Min, limits.Max);
            if (n > limits.Max)
            {
                why.Add(string.Create(CultureInfo.InvariantCulture, $"{Name(role)} {n} > max {limits.Max}"));
            }
        }

        if (_options.GpuBudget is { } budget && Gpus(counts) > budget)
        {
            var before = new Dictionary<WorkerRole, int>(counts);
            int total = Gpus(counts);
            double scale = (double)budget / total;
            foreach (WorkerRole role in before.Keys)
            {
                counts[role] = Math.Max(_options.Limits(role).Min, (int)Math.Floor(before[role] * scale));
            }

            // Floors at the minimums can still leave it over: take from the pool with the most above its minimum.
            while (Gpus(counts) > budget)
            {
                WorkerRole largest = counts.Keys.Where(r => counts[r] > _options.Limits(r).Min).MaxBy(r => counts[r] - _options.Limits(r).Min);
                counts[largest]--;
            }

            // Hand back what flooring left: one worker at a time to the pool furthest below its wish that still fits.
            while (true)
            {
                int left = budget - Gpus(counts);
                WorkerRole[] fits = [.. counts.Keys.Where(r => counts[r] < before[r] && _profile.GpusPerWorker(r) <= left)];
                if (fits.Length == 0)
                {
                    break;
                }

                WorkerRole neediest = fits.MaxBy(r => (double)before[r] / Math.Max(counts[r], 1));
                counts[neediest]++;
            }

            why.Add(string.Create(CultureInfo.InvariantCulture,
                $"{Describe(before)} need {total} GPUs > budget {budget}: {Describe(counts)} ({Gpus(counts)} GPUs)"));
        }

        return (counts, why.Count == 0 ? null : string.Join("; ", why));
    }

    /// <summary>
    /// A scale-down held back by the stabilization window can leave the targets over the GPU budget while another
    /// pool grows. The budget is the hard limit: pools held above their wish are let down towards it, the one
    /// furthest above first, until the targets fit. Returns what was released, or null when nothing had to be.
    /// </summary>
    public string? FitBudget(Dictionary<WorkerRole, int> targets, IReadOnlyDictionary<WorkerRole, int> wishes)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(wishes);
        if (_options.GpuBudget is not { } budget || Gpus(targets) <= budget)
        {
            return null;
        }

        var before = new Dictionary<WorkerRole, int>(targets);
        while (Gpus(targets) > budget)
        {
            WorkerRole[] held = [.. targets.Keys.Where(r => wishes.TryGetValue(r, out int wish) && targets[r] > wish)];
            if (held.Length == 0)
            {
                break;
            }

            targets[held.MaxBy(r => targets[r] - wishes[r])]--;
        }

        return string.Join(", ", targets.Where(t => t.Value != before[t.Key]).Select(t => $"{Name(t.Key)} {before[t.Key]} → {t.Value}"))
            + string.Create(CultureInfo.InvariantCulture, $" before the stabilization window ends, to stay within the GPU budget {budget}");
    }

    internal static string Name(WorkerRole role) => role switch
    {
        WorkerRole.Prefill => "prefill",
        WorkerRole.Decode => "decode",
        _ => "workers",
    };

    internal static string Describe(IReadOnlyDictionary<WorkerRole, int> counts) =>
        string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{Name(c.Key)} {c.Value}"));
}
