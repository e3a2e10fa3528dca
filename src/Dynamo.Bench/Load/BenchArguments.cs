using Dynamo.Bench.Metrics;
using Dynamo.Bench.Workload;

namespace Dynamo.Bench.Load;

/// <summary>Everything <c>dynamo bench</c> takes, before validation.</summary>
public sealed record BenchArguments
{
    public required Uri Url { get; init; }

    /// <summary>Model name to send; null asks the server's /v1/models.</summary>
    public string? Model { get; init; }

    public string? TracePath { get; init; }

    /// <summary>Sort a trace whose timestamps go backwards (with a warning through <see cref="Warn"/>) instead of refusing it.</summary>
    public bool SortTrace { get; init; }

    /// <summary>Where a warning about the workload goes (a sorted trace); null drops it.</summary>
    public Action<string>? Warn { get; init; }

    public string? Isl { get; init; }

    public string? Osl { get; init; }

    public double? Rate { get; init; }

    public string? Arrival { get; init; }

    public int? Concurrency { get; init; }

    public int? Requests { get; init; }

    public double? DurationS { get; init; }

    public double WarmupS { get; init; }

    /// <summary>Divides the trace's timestamps (2 = twice as fast). Default 1.</summary>
    public double TraceSpeedup { get; init; } = 1;

    public string? OutDir { get; init; }

    /// <summary>A file for the JSON summary, or <c>-</c> for standard output.</summary>
    public string? JsonPath { get; init; }

    public SloTargets Slo { get; init; } = new();

    public int Seed { get; init; }

    public double TimeoutS { get; init; } = 600;

    public int VocabSize { get; init; } = 32000;

    public bool NoPlots { get; init; }

    /// <summary>Where the runs made from this machine are kept, to warn about a reused seed (<see cref="BenchHistory"/>).</summary>
    public string HistoryPath { get; init; } = BenchHistory.DefaultPath;

    /// <summary>Write a measured table for <c>--profile fit:FILE</c> here (see <see cref="Reports.ProfileTable"/>).</summary>
    public string? ProfileTablePath { get; init; }

    /// <summary>
    /// Multi-turn sessions (<c>--workload</c>, <see cref="ConversationWorkload"/>) instead of a trace or synthetic
    /// lengths. The session rate, arrival process, request cap, output lengths and seed are the options' own (the CLI
    /// makes them from <c>--rate</c>, <c>--arrival</c>, <c>--requests</c>, <c>--osl</c> and <c>--seed</c>).
    /// </summary>
    public SessionWorkloadOptions? Sessions { get; init; }

    /// <summary>Write the workload here as a Mooncake JSONL trace before sending it (<see cref="Traces.TraceWriter"/>).</summary>
    public string? ExportTracePath { get; init; }

    /// <summary>The first problem, phrased for the user (names the flag and the value), or null.</summary>
    public string? FirstError()
    {
        if (Url.Scheme is not ("http" or "https"))
        {
            return $"--url must be an http or https address (got '{Url}').";
        }

        if (Sessions is { } sessions)
        {
            string? conflict = TracePath is not null ? "--workload and --trace are alternatives: the workload makes its own requests (--export-trace FILE saves them as a trace)."
                : Isl is not null ? "--isl does not apply to --workload: a turn's prompt is its session's context so far; set each turn's new input with --turn-tokens."
                : Concurrency is not null ? "--workload is open loop (sessions start at --rate, turns follow think times): drop --concurrency."
                : null;
            return conflict ?? sessions.FirstError() ?? CommonError();
        }

        if (TracePath is not null && (Isl is not null || Osl is not null))
        {
            return "--trace and --isl/--osl are alternatives: the trace gives the lengths.";
        }

        if (TracePath is null && (Isl is null || Osl is null))
        {
            return "give either --trace FILE or both --isl and --osl.";
        }

        if (TracePath is not null && !File.Exists(TracePath))
        {
            return $"--trace: file not found: {TracePath}";
        }

        if (Rate is { } rate && !(rate > 0 && double.IsFinite(rate)))
        {
            return $"--rate must be a number > 0 requests/s (got {rate}).";
        }

        if (Concurrency is { } c && c < 1)
        {
            return $"--concurrency must be at least 1 (got {c}).";
        }

        if (Rate is not null && Concurrency is not null)
        {
            return "--rate and --concurrency are alternatives (open loop or closed loop).";
        }

        if (TracePath is null && Rate is null && Concurrency is null)
        {
            return "synthetic load needs --rate R or --concurrency C.";
        }

        if (Arrival is not null && ParseArrival(Arrival) is null)
        {
            return $"--arrival must be poisson, constant or trace (got '{Arrival}').";
        }

        if (Arrival is not null && ParseArrival(Arrival) == ArrivalProcess.Trace && TracePath is null)
        {
            return "--arrival trace needs --trace.";
        }

        if (Requests is { } n && n < 1)
        {
            return $"--requests must be at least 1 (got {n}).";
        }

        if (TracePath is null && Requests is null && DurationS is null)
        {
            return "synthetic load needs --requests N or --duration S to end.";
        }

        if (ExportTracePath is not null && TracePath is null && Requests is null)
        {
            return "--export-trace needs a workload that ends: give --requests N.";
        }

        foreach ((string flag, string? text) in new[] { ("--isl", Isl), ("--osl", Osl) })
        {
            if (text is not null)
            {
                try
                {
                    LengthDistribution.Parse(text, flag);
                }
                catch (FormatException error)
                {
                    return error.Message;
                }
            }
        }

        return CommonError();
    }

    /// <summary>The checks every workload shares.</summary>
    private string? CommonError()
    {
        if (DurationS is { } d && !(d > 0))
        {
            return $"--duration must be > 0 seconds (got {d}).";
        }

        if (WarmupS < 0)
        {
            return $"--warmup must not be negative (got {WarmupS}).";
        }

        if (!(TraceSpeedup > 0))
        {
            return $"--speedup must be > 0 (got {TraceSpeedup}).";
        }

        if (!(TimeoutS > 0))
        {
            return $"--timeout must be > 0 seconds (got {TimeoutS}).";
        }

        if (VocabSize <= PromptSynthesizer.FirstTokenId + 1)
        {
            return $"--vocab-size must be more than {PromptSynthesizer.FirstTokenId + 1} (got {VocabSize}).";
        }

        if (ItlMetrics.Error(Slo.ItlMetric, "--slo-itl-metric") is { } metric)
        {
            return metric;
        }

        foreach ((string flag, double? value) in new[] { ("--slo-ttft-ms", Slo.TtftMs), ("--slo-itl-ms", Slo.ItlMs), ("--slo-e2e-ms", Slo.E2eMs) })
        {
            if (value is { } v && !(v > 0))
            {
                return $"{flag} must be > 0 (got {v}).";
            }
        }

        return null;
    }

    public static ArrivalProcess? ParseArrival(string text) => text.Trim().ToLowerInvariant() switch
    {
        "poisson" => ArrivalProcess.Poisson,
        "constant" => ArrivalProcess.Constant,
        "trace" => ArrivalProcess.Trace,
        _ => null,
    };
}
