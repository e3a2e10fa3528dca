using Dynamo.Bench.Metrics;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Dynamo.Bench.Sweep;

/// <summary>
/// A sweep definition (YAML, snake_case keys; see configs/sweep.yaml): the workload, latency targets, the profile,
/// GPU budgets, the arrival rates to try, and the grid of cluster settings. Every combination is one replay.
/// </summary>
public sealed class SweepConfig
{
    public SweepWorkload Workload { get; set; } = new();

    public SweepSlo Slo { get; set; } = new();

    public string Profile { get; set; } = "h100-8b";

    /// <summary>Total GPUs per configuration; aggregated uses them all as workers, disaggregated tries every prefill:decode split.</summary>
    public List<int> GpuBudgets { get; set; } = [8];

    /// <summary>Arrival rates (requests/s, for the whole cluster) to run each configuration at.</summary>
    public List<double> Rates { get; set; } = [1];

    public SweepGrid Grid { get; set; } = new();

    public int Seed { get; set; }

    /// <summary>Replays at once (default: the processor count).</summary>
    public int? Parallel { get; set; }

    public static SweepConfig Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ArgumentException($"sweep config not found: {path}");
        }

        var deserializer = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build();
        try
        {
            SweepConfig config = deserializer.Deserialize<SweepConfig>(File.ReadAllText(path)) ?? new SweepConfig();
            if (config.Workload.Trace is { } trace && !Path.IsPathRooted(trace))
            {
                config.Workload.Trace = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, trace));
            }

            return config.FirstError() is { } error ? throw new ArgumentException($"{path}: {error}") : config;
        }
        catch (YamlException error)
        {
            throw new ArgumentException($"{path}:{error.Start.Line}: {error.InnerException?.Message ?? error.Message}", error);
        }
    }

    public string? FirstError()
    {
        if (Workload.Trace is null && (Workload.Isl is null || Workload.Osl is null))
        {
            return "workload needs trace, or isl and osl.";
        }

        if (Rates.Count == 0 || Rates.Any(r => !(r > 0)))
        {
            return $"rates must be numbers > 0 (got [{string.Join(", ", Rates)}]).";
        }

        if (GpuBudgets.Count == 0 || GpuBudgets.Any(g => g < 1))
        {
            return $"gpu_budgets must be at least 1 (got [{string.Join(", ", GpuBudgets)}]).";
        }

        if (ItlMetrics.Error(Slo.ItlMetric, "slo.itl_metric") is { } metric)
        {
            return metric;
        }

        if (Grid.Mode.Any(m => m is not ("agg" or "disagg")))
        {
            return $"grid.mode entries must be agg or disagg (got [{string.Join(", ", Grid.Mode)}]).";
        }

        if (Grid.MaxNumBatchedTokens.Any(b => b < 1))
        {
            return $"grid.max_num_batched_tokens entries must be at least 1 (got [{string.Join(", ", Grid.MaxNumBatchedTokens)}]).";
        }

        foreach ((string key, List<int> degrees) in new[] { ("tp", Grid.Tp), ("prefill_tp", Grid.PrefillTp), ("decode_tp", Grid.DecodeTp) })
        {
            foreach (int degree in degrees)
            {
                try
                {
                    Dynamo.Engine.Mocker.Profiles.PerformanceProfiles.Get(Profile, degree);
                }
                catch (ArgumentException bad)
                {
                    return $"grid.{key} {degree} with profile {Profile}: {bad.Message}";
                }
            }
        }

        return null;
    }

    public SloTargets Targets => new() { TtftMs = Slo.TtftMs, ItlMs = Slo.ItlMs, ItlMetric = Slo.ItlMetric ?? ItlMetrics.Default };
}

/// <summary>The workload of every sweep point.</summary>
public sealed class SweepWorkload
{
    public string? Trace { get; set; }

    public string? Isl { get; set; }

    public string? Osl { get; set; }

    /// <summary>Requests per point (default: the whole trace, or 500 synthetic).</summary>
    public int? Requests { get; set; }

    /// <summary>Sort a trace whose timestamps go backwards by time (with a warning) instead of refusing it (default false).</summary>
    public bool SortTrace { get; set; }
}

/// <summary>
/// Latency targets. A point is eligible for the recommendation when it is stable (<see cref="RunStability"/>) and
/// its TTFT p90 and ITL p90 meet them; ITL as <see cref="ItlMetric"/> says.
/// </summary>
public sealed class SweepSlo
{
    public double? TtftMs { get; set; }

    public double? ItlMs { get; set; }

    /// <summary>
    /// token_p90 (default: the 90th percentile of every gap between tokens, what a user watching the stream feels; a
    /// request mean averages a prefill stall over the whole reply) or request_mean (the 90th percentile of each
    /// request's mean gap, as AIPerf and the planner's decode profile define ITL). See <see cref="ItlMetrics"/>.
    /// </summary>
    public string? ItlMetric { get; set; }
}

/// <summary>Values to combine.</summary>
public sealed class SweepGrid
{
    public List<string> Mode { get; set; } = ["agg", "disagg"];

    public List<string> Router { get; set; } = ["kv"];

    public List<double> PrefillLoadScale { get; set; } = [1.0];

    public List<int> MinRemotePrefill { get; set; } = [2048];

    public List<int> MaxNumSeqs { get; set; } = [256];

    /// <summary>Tensor-parallel degrees of aggregated workers (GPUs a worker; default: the profile's own).</summary>
    public List<int> Tp { get; set; } = [];

    /// <summary>Tensor-parallel degrees of prefill workers (default: the profile's own); every one with every decode degree.</summary>
    public List<int> PrefillTp { get; set; } = [];

    /// <summary>Tensor-parallel degrees of decode workers (default: the profile's own).</summary>
    public List<int> DecodeTp { get; set; } = [];

    /// <summary>
    /// Token budgets of one step (vLLM's max_num_batched_tokens: decode tokens and prefill chunks together), for every
    /// worker of the point (default: the profile's, 8,192).
    /// </summary>
    public List<int> MaxNumBatchedTokens { get; set; } = [];
}
