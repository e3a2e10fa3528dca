using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.Bench.Load;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Replay;
using Dynamo.Bench.Reports;
using Dynamo.Bench.Traces;
using Dynamo.Engine.Mocker.Profiles;
using Spectre.Console;

namespace Dynamo.Bench.Sweep;

/// <summary>
/// <c>dynamo sweep</c>: every grid point through replay, in parallel; each point's summary is kept in
/// <c>points/ID.json</c> as it finishes, so a sweep that is interrupted and started again only runs what is missing.
/// Writes sweep.csv (with <c>stable</c> and <c>eligible</c> per point), pareto_ttft.png and pareto_itl.png (output
/// tokens/s per GPU against TTFT p90 and ITL p90, the recommended point marked), and recommended.yaml: the eligible
/// point (<see cref="SweepRow"/>: stable, TTFT and ITL p90 within the targets) with the most served requests/s per GPU,
/// as <c>dynamo serve --config</c> takes it, its figures and margins in the header; when no point is eligible, a file
/// that says so and names the closest point and why it fails, with no configuration to serve.
/// </summary>
public static class SweepRunner
{
    /// <summary>
    /// Every point of the grid. Aggregated: each degree in <c>tp</c>, as many workers as fit the budget. Disaggregated:
    /// each (prefill_tp, decode_tp) pair and every prefill worker count from 1, with as many decode workers as the GPUs
    /// left hold (at least one); the point's GPUs are prefill workers × prefill TP + decode workers × decode TP.
    /// </summary>
    public static IReadOnlyList<SweepPoint> Expand(SweepConfig config, PerformanceProfile profile)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(profile);
        var points = new List<SweepPoint>();
        int own = profile.GpusPerWorker;
        List<int> Or(List<int> values, int fallback) => values.Count > 0 ? values : [fallback];
        foreach (int gpus in config.GpuBudgets)
        {
            foreach (string mode in config.Grid.Mode)
            {
                var shapes = new List<(int Gpus, int W, int P, int D, int Tp, int Ptp, int Dtp)>();
                if (mode == "agg")
                {
                    foreach (int tp in Or(config.Grid.Tp, own))
                    {
                        if (gpus / tp is var w and > 0)
                        {
                            shapes.Add((w * tp, w, 0, 0, tp, 0, 0));
                        }
                    }
                }
                else
                {
                    foreach (int ptp in Or(config.Grid.PrefillTp, own))
                    {
                        foreach (int dtp in Or(config.Grid.DecodeTp, own))
                        {
                            for (int p = 1; (p * ptp) + dtp <= gpus; p++)
                            {
                                int d = (gpus - (p * ptp)) / dtp;
                                shapes.Add(((p * ptp) + (d * dtp), 0, p, d, 0, ptp, dtp));
                            }
                        }
                    }
                }

                foreach (var shape in shapes)
                {
                    foreach (string router in config.Grid.Router)
                    {
                        foreach (double scale in config.Grid.PrefillLoadScale)
                        {
                            foreach (int remote in mode == "agg" ? [config.Grid.MinRemotePrefill[0]] : config.Grid.MinRemotePrefill)
                            {
                                foreach (int seqs in config.Grid.MaxNumSeqs)
                                {
                                    foreach (int budget in Or(config.Grid.MaxNumBatchedTokens, profile.MaxNumBatchedTokens))
                                    {
                                        foreach (double rate in config.Rates)
                                        {
                                            points.Add(new SweepPoint(shape.Gpus, mode, shape.W, shape.P, shape.D, router, scale, remote, seqs, rate, shape.Tp, shape.Ptp, shape.Dtp, budget));
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        return points;
    }

    public static async Task<SweepResult> RunAsync(SweepConfig config, string outDir, IAnsiConsole console, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(console);
        PerformanceProfile profile = PerformanceProfiles.Get(config.Profile);
        IReadOnlyList<SweepPoint> points = Expand(config, profile);
        if (config.Workload.Trace is { } trace)
        {
            // Read once up front: a bad trace is refused before any point runs, and a sorted one warns once.
            TraceReader.Read(trace, config.Workload.SortTrace, warning => console.MarkupLine($"[yellow]warning: {Markup.Escape(warning)}[/]"));
        }

        string pointsDir = Path.Combine(outDir, "points");
        Directory.CreateDirectory(pointsDir);
        var summaries = new Dictionary<SweepPoint, BenchSummary>();
        int resumed = 0;
        foreach (SweepPoint point in points)
        {
            string file = Path.Combine(pointsDir, point.Id + ".json");
            if (File.Exists(file) && JsonReport.ReadSummary(await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false)) is { Stability: not null } done)
            {
                summaries[point] = done;
                resumed++;
            }
        }

        var todo = points.Where(p => !summaries.ContainsKey(p)).ToList();
        console.MarkupLine($"[grey]{points.Count} points ({resumed} already done in {Markup.Escape(pointsDir)}), profile {Markup.Escape(profile.Name)}[/]");
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask("sweep points", maxValue: Math.Max(1, points.Count));
                task.Value = resumed;
                var options = new ParallelOptions { MaxDegreeOfParallelism = config.Parallel ?? Environment.ProcessorCount, CancellationToken = cancellationToken };
                await Parallel.ForEachAsync(todo, options, async (point, ct) =>
                {
                    BenchSummary summary = await RunPointAsync(config, profile, point, pointsDir, ct).ConfigureAwait(false);
                    lock (summaries)
                    {
                        summaries[point] = summary;
                        task.Increment(1);
                    }
                }).ConfigureAwait(false);
                task.StopTask();
            }).ConfigureAwait(false);

        SloTargets targets = config.Targets;
        var rows = points.Select(p => new SweepRow(p, summaries[p], targets)).ToList();
        SweepRow? recommended = Recommend(rows);
        var result = new SweepResult(rows, recommended, profile) { Closest = recommended is null ? Closest(rows) : null };
        await WriteAsync(config, result, outDir, cancellationToken).ConfigureAwait(false);
        console.Write(Table(result));
        string written = Markup.Escape(Path.Combine(outDir, "recommended.yaml"));
        if (result.Recommended is { } best)
        {
            console.MarkupLine($"recommended: [bold]{Markup.Escape(Describe(best.Point))}[/] ({Markup.Escape(best.Point.ConfigId)}) at {best.Point.Rate.ToString(CultureInfo.InvariantCulture)} req/s: {Markup.Escape(Figures(best, targets))}; written to {written}");
        }
        else if (result.Closest is { } closest)
        {
            console.MarkupLine($"[yellow]no point is eligible (stable, TTFT p90 and ITL p90 within the targets): nothing to recommend. Closest: {Markup.Escape(Describe(closest.Point))} at {closest.Point.Rate.ToString(CultureInfo.InvariantCulture)} req/s, which fails: {Markup.Escape(string.Join("; ", closest.Failures))}. Written to {written}[/]");
        }

        return result;
    }

    private static async Task<BenchSummary> RunPointAsync(SweepConfig config, PerformanceProfile profile, SweepPoint point, string pointsDir, CancellationToken cancellationToken)
    {
        PerformanceProfile Sized(int tp)
        {
            PerformanceProfile built = tp > 0 && tp != profile.GpusPerWorker ? PerformanceProfiles.Get(config.Profile, tp) : profile;
            return built with { MaxNumSeqs = point.MaxNumSeqs, MaxNumBatchedTokens = point.MaxNumBatchedTokens > 0 ? point.MaxNumBatchedTokens : built.MaxNumBatchedTokens };
        }

        bool disagg = point.Mode == "disagg";
        var options = new ReplayOptions
        {
            Mode = point.Mode,
            Workers = point.Workers,
            PrefillWorkers = point.PrefillWorkers,
            DecodeWorkers = point.DecodeWorkers,
            Router = point.Router,
            PrefillLoadScale = point.PrefillLoadScale,
            Profile = Sized(disagg ? point.DecodeTp : point.Tp),
            PrefillProfile = disagg ? Sized(point.PrefillTp) : null,
            MinRemotePrefillTokens = point.MinRemotePrefill,
            Slo = config.Targets,
            Seed = config.Seed,
            SampleIntervalS = 5,
        };
        var w = config.Workload;
        var (workload, count) = BenchRunner.BuildWorkload(w.Trace, w.Isl, w.Osl, null, point.Rate, 1, w.Requests ?? (w.Trace is null ? 500 : null), config.Seed, w.SortTrace);
        var (outcome, _) = await ReplayRunner.RunAsync(options, workload, count, console: null, outDir: null, jsonPath: null, plots: false, cancellationToken).ConfigureAwait(false);
        JsonObject json = outcome.Json;
        json["point"] = JsonSerializer.SerializeToNode(point);
        string file = Path.Combine(pointsDir, point.Id + ".json");
        string partial = file + ".partial";
        await File.WriteAllTextAsync(partial, JsonReport.Serialize(json), cancellationToken).ConfigureAwait(false);
        File.Move(partial, file, overwrite: true);
        return outcome.Summary;
    }

    /// <summary>
    /// The eligible row (<see cref="SweepRow.Eligible"/>) with the most goodput (served requests/s) per GPU; ties go to
    /// fewer GPUs, then lower TTFT p90. Null when no row is eligible.
    /// </summary>
    public static SweepRow? Recommend(IReadOnlyList<SweepRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        return rows.Where(r => r.Eligible)
            .OrderByDescending(r => Math.Round(r.GoodputPerGpu, 9))
            .ThenBy(r => r.Point.Gpus)
            .ThenBy(r => r.Summary.TtftMs.P90)
            .FirstOrDefault();
    }

    /// <summary>The row nearest to eligible (<see cref="SweepRow.Shortfall"/>), more throughput per GPU first among equals.</summary>
    public static SweepRow? Closest(IReadOnlyList<SweepRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        return rows.OrderBy(r => Math.Round(r.Shortfall, 6)).ThenByDescending(r => r.ThroughputPerGpu).FirstOrDefault();
    }

    /// <summary>A configuration in words: <c>agg 2 workers, 8 GPUs, router kv</c> or <c>disagg 1P:1D, 8 GPUs, router kv</c>.</summary>
    public static string Describe(SweepPoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        string shape = point.Mode == "agg" ? $"agg {point.Workers} workers" : $"disagg {point.PrefillWorkers}P:{point.DecodeWorkers}D";
        return $"{shape}, {point.Gpus} GPUs, router {point.Router}";
    }

    /// <summary>The row's figures against the targets, one line.</summary>
    public static string Figures(SweepRow row, SloTargets targets)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(targets);
        return string.Create(CultureInfo.InvariantCulture, $"TTFT p90 {row.TtftAtSla:0.#} ms{Margin(row.TtftAtSla, targets.TtftMs)}, {row.ItlLabel} {row.ItlAtSla:0.##} ms{Margin(row.ItlAtSla, targets.ItlMs)}, served {row.ServedRate:0.###} of {row.OfferedRate:0.###} req/s offered, {row.GoodputPerGpu:0.###} goodput req/s per GPU");
    }

    private static string Margin(double value, double? target) => target is not { } t
        ? " (no target)"
        : value <= t
            ? string.Create(CultureInfo.InvariantCulture, $" (target {t:0.#} ms, margin {t - value:0.##} ms, {(t - value) / t * 100:0}%)")
            : string.Create(CultureInfo.InvariantCulture, $" (target {t:0.#} ms, over by {value - t:0.##} ms)");

    /// <summary>Rows no other row beats on both output tokens/s per GPU (higher) and <paramref name="latency"/> (lower).</summary>
    public static List<SweepRow> Pareto(IReadOnlyList<SweepRow> rows, Func<SweepRow, double> latency)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(latency);
        var front = new List<SweepRow>();
        double best = double.NegativeInfinity;
        foreach (SweepRow row in rows.OrderBy(latency).ThenByDescending(r => r.ThroughputPerGpu))
        {
            if (row.ThroughputPerGpu > best)
            {
                front.Add(row);
                best = row.ThroughputPerGpu;
            }
        }

        return front;
    }

    /// <summary>
    /// What <c>dynamo serve --config</c> reads for this configuration, under a header of comments: the configuration
    /// and rate, TTFT p90 and ITL p90 with their margins to the targets, the served and offered rates.
    /// </summary>
    public static string ServeYaml(SweepRow row, string profile, SloTargets? targets = null)
    {
        ArgumentNullException.ThrowIfNull(row);
        SweepPoint p = row.Point;
        targets ??= row.Targets ?? row.Summary.Slo;
        var text = new StringBuilder();
        text.Append("# dynamo serve --config recommended.yaml\n");
        text.Append(CultureInfo.InvariantCulture, $"# Recommended by dynamo sweep (profile {profile}): {Describe(p)} at {p.Rate} req/s ({p.ConfigId}).\n");
        text.Append(Header(row, targets));
        text.Append(CultureInfo.InvariantCulture, $"# goodput {row.GoodputPerGpu:0.###} req/s per GPU (the served rate of a stable point meeting both targets, over {p.Gpus} GPUs).\n");
        text.Append(Body(row));
        return text.ToString();
    }

    /// <summary>recommended.yaml when no point is eligible: says so, names the closest point and why it fails; its configuration is commented out.</summary>
    public static string NoneEligibleYaml(SweepRow? closest, string profile, SloTargets targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# NO CONFIGURATION RECOMMENDED: dynamo sweep (profile {profile}) found no eligible point (stable, with TTFT p90 and ITL p90 within the targets).\n");
        if (closest is not null)
        {
            SweepPoint p = closest.Point;
            text.Append(CultureInfo.InvariantCulture, $"# Closest: {Describe(p)} at {p.Rate} req/s ({p.ConfigId}).\n");
            text.Append(Header(closest, targets));
            text.Append(CultureInfo.InvariantCulture, $"# It fails: {string.Join("; ", closest.Failures)}.\n");
            text.Append("# Its configuration, commented out so that it is not deployed by mistake:\n");
            foreach (string line in Body(closest).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                text.Append("# ").Append(line).Append('\n');
            }
        }

        return text.ToString();
    }

    private static string Header(SweepRow row, SloTargets targets) => string.Create(
        CultureInfo.InvariantCulture,
        $"# TTFT p90 {row.TtftAtSla:0.#} ms{Margin(row.TtftAtSla, targets.TtftMs)}\n# {row.ItlLabel} {row.ItlAtSla:0.##} ms{Margin(row.ItlAtSla, targets.ItlMs)}; itl_metric {targets.ItlMetric}\n# served {row.ServedRate:0.###} req/s of {row.OfferedRate:0.###} offered ({(row.OfferedRate > 0 ? row.ServedRate / row.OfferedRate * 100 : 0):0.#}%; rate setting {row.Point.Rate} req/s), {(row.Stable ? "stable" : "unstable")}\n");

    private static string Body(SweepRow row)
    {
        SweepPoint p = row.Point;
        var text = new StringBuilder();
        text.Append("Dynamo:\n  Serve:\n");
        text.Append(CultureInfo.InvariantCulture, $"    Mode: {p.Mode}\n");
        if (p.Mode == "agg")
        {
            text.Append(CultureInfo.InvariantCulture, $"    Workers: {p.Workers}\n");
        }
        else
        {
            text.Append(CultureInfo.InvariantCulture, $"    PrefillWorkers: {p.PrefillWorkers}\n    DecodeWorkers: {p.DecodeWorkers}\n");
        }

        if (p.Mode == "disagg")
        {
            text.Append(CultureInfo.InvariantCulture, $"  Gateway:\n    Disaggregation:\n      MinRemotePrefillTokens: {p.MinRemotePrefill}\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"  Router:\n    Mode: {(p.Router == "oracle" ? "kv" : p.Router)}\n");
        if (p.Router == "kv")
        {
            text.Append(CultureInfo.InvariantCulture, $"    PrefillLoadScale: {p.PrefillLoadScale}\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"  Mocker:\n    MaxNumSeqs: {p.MaxNumSeqs}\n");
        return text.ToString();
    }

    private static async Task WriteAsync(SweepConfig config, SweepResult result, string outDir, CancellationToken cancellationToken)
    {
        var csv = new StringBuilder("id,gpus,mode,workers,prefill_workers,decode_workers,router,prefill_load_scale,min_remote_prefill,max_num_seqs,rate,"
            + string.Join(',', CsvReport.SummaryColumns) + ",output_tokens_per_s_per_gpu,goodput_requests_per_s_per_gpu,pareto_ttft,pareto_itl,"
            + "itl_token_p50_ms,itl_token_p90_ms,itl_token_p99_ms,offered_requests_per_s,served_requests_per_s,served_fraction,in_system_middle_third,in_system_last_third,stable,eligible,recommended,fails\n");
        var ttftFront = Pareto(result.Rows, r => r.Summary.TtftMs.P90).ToHashSet();
        var itlFront = Pareto(result.Rows, r => r.ItlAtSla).ToHashSet();
        foreach (SweepRow row in result.Rows)
        {
            SweepPoint p = row.Point;
            csv.Append(CultureInfo.InvariantCulture, $"{p.Id},{p.Gpus},{p.Mode},{p.Workers},{p.PrefillWorkers},{p.DecodeWorkers},{p.Router},{p.PrefillLoadScale},{p.MinRemotePrefill},{p.MaxNumSeqs},{p.Rate},");
            csv.Append(string.Join(',', CsvReport.SummaryRow(row.Summary)));
            csv.Append(CultureInfo.InvariantCulture, $",{CsvReport.Num(row.ThroughputPerGpu)},{CsvReport.Num(row.GoodputPerGpu)},{(ttftFront.Contains(row) ? 1 : 0)},{(itlFront.Contains(row) ? 1 : 0)},");
            RunStability? st = row.Summary.Stability;
            csv.Append(CultureInfo.InvariantCulture, $"{CsvReport.Num(row.Summary.ItlTokenMs.P50)},{CsvReport.Num(row.Summary.ItlTokenMs.P90)},{CsvReport.Num(row.Summary.ItlTokenMs.P99)},");
            csv.Append(CultureInfo.InvariantCulture, $"{CsvReport.Num(st?.OfferedRequestsPerS)},{CsvReport.Num(st?.ServedRequestsPerS)},{CsvReport.Num(st?.ServedFraction)},{CsvReport.Num(st?.InSystemMiddle)},{CsvReport.Num(st?.InSystemLast)},");
            csv.Append(CultureInfo.InvariantCulture, $"{(row.Stable ? "true" : "false")},{(row.Eligible ? "true" : "false")},{(ReferenceEquals(row, result.Recommended) ? "true" : "false")},{CsvReport.Cell(string.Join("; ", row.Failures))}\n");
        }

        await File.WriteAllTextAsync(Path.Combine(outDir, "sweep.csv"), csv.ToString(), cancellationToken).ConfigureAwait(false);
        IReadOnlyList<ParetoPlotModel> plots = PlotModels(result, config.Targets);
        plots[0].Render(Path.Combine(outDir, "pareto_ttft.png"));
        plots[1].Render(Path.Combine(outDir, "pareto_itl.png"));

        string recommended = Path.Combine(outDir, "recommended.yaml");
        string yaml = result.Recommended is { } best
            ? ServeYaml(best, result.Profile.Name, config.Targets)
            : NoneEligibleYaml(result.Closest, result.Profile.Name, config.Targets);
        await File.WriteAllTextAsync(recommended, yaml, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>pareto_ttft.png's and pareto_itl.png's models, in that order: latencies at the SLA's percentile (the ITL as the targets' itl_metric says).</summary>
    public static IReadOnlyList<ParetoPlotModel> PlotModels(SweepResult result, SloTargets targets)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(targets);
        var ttftFront = Pareto(result.Rows, r => r.TtftAtSla).ToHashSet();
        var itlFront = Pareto(result.Rows, r => r.ItlAtSla).ToHashSet();
        string itlLabel = result.Rows.Count > 0 ? result.Rows[0].ItlLabel : "ITL p90";
        return
        [
            ParetoPlotModel.Build(result.Rows, ttftFront, r => r.TtftAtSla, "TTFT p90, ms", targets.TtftMs, result.Recommended),
            ParetoPlotModel.Build(result.Rows, itlFront, r => r.ItlAtSla, itlLabel + ", ms", targets.ItlMs, result.Recommended),
        ];
    }

    private static Table Table(SweepResult result)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("per configuration: the eligible rate with the most goodput per GPU, else the closest point");
        foreach (string column in new[] { "configuration", "GPUs", "rate", "TTFT p90 ms", "ITL p90 ms", "served/offered", "tok/s/GPU", "goodput/GPU", "eligible" })
        {
            table.AddColumn(column);
        }

        foreach (var group in result.Rows.GroupBy(r => r.Point.ConfigId))
        {
            SweepRow best = group.Any(r => r.Eligible)
                ? group.Where(r => r.Eligible).OrderByDescending(r => r.GoodputPerGpu).ThenByDescending(r => r.ThroughputPerGpu).First()
                : Closest([.. group])!;
            bool recommended = ReferenceEquals(best, result.Recommended);
            string name = Markup.Escape(group.Key);
            table.AddRow(
                recommended ? $"[bold green]{name}[/]" : name,
                best.Point.Gpus.ToString(CultureInfo.InvariantCulture),
                best.Point.Rate.ToString(CultureInfo.InvariantCulture),
                best.TtftAtSla.ToString("0.#", CultureInfo.InvariantCulture),
                best.ItlAtSla.ToString("0.##", CultureInfo.InvariantCulture),
                $"{best.ServedRate.ToString("0.##", CultureInfo.InvariantCulture)}/{best.OfferedRate.ToString("0.##", CultureInfo.InvariantCulture)}",
                best.ThroughputPerGpu.ToString("0.#", CultureInfo.InvariantCulture),
                best.GoodputPerGpu.ToString("0.###", CultureInfo.InvariantCulture),
                best.Eligible ? "yes" : Markup.Escape("no: " + string.Join("; ", best.Failures)));
        }

        return table;
    }
}

/// <summary>
/// All rows, the recommendation (null when no point is eligible), the profile used, and, when nothing is
/// recommended, the point closest to eligible.
/// </summary>
public sealed record SweepResult(IReadOnlyList<SweepRow> Rows, SweepRow? Recommended, PerformanceProfile Profile)
{
    public SweepRow? Closest { get; init; }
}
