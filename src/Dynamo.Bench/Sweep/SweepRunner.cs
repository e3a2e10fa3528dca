using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.Bench.Load;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Replay;
using Dynamo.Bench.Reports;
using Dynamo.Engine.Mocker.Profiles;
using ScottPlot;
using Spectre.Console;

namespace Dynamo.Bench.Sweep;

/// <summary>
/// <c>dynamo sweep</c>: every grid point through replay, in parallel; each point's summary is kept in
/// <c>points/ID.json</c> as it finishes, so a sweep that is interrupted and started again only runs what is missing.
/// Writes sweep.csv, pareto_ttft.png and pareto_itl.png (output tokens/s per GPU against TTFT p90 and ITL p90), and
/// recommended.yaml: the configuration with the most goodput per GPU under the targets, as <c>dynamo serve --config</c> takes it.
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
        string pointsDir = Path.Combine(outDir, "points");
        Directory.CreateDirectory(pointsDir);
        var summaries = new Dictionary<SweepPoint, BenchSummary>();
        int resumed = 0;
        foreach (SweepPoint point in points)
        {
            string file = Path.Combine(pointsDir, point.Id + ".json");
            if (File.Exists(file) && JsonReport.ReadSummary(await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false)) is { } done)
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

        var rows = points.Select(p => new SweepRow(p, summaries[p])).ToList();
        var result = new SweepResult(rows, Recommend(rows), profile);
        await WriteAsync(config, result, outDir, cancellationToken).ConfigureAwait(false);
        console.Write(Table(result));
        if (result.Recommended is { } best)
        {
            console.MarkupLine($"recommended: [bold]{Markup.Escape(best.Point.ConfigId)}[/] at {best.Point.Rate.ToString(CultureInfo.InvariantCulture)} req/s: {best.GoodputPerGpu:0.###} goodput req/s per GPU; written to {Markup.Escape(Path.Combine(outDir, "recommended.yaml"))}");
        }
        else
        {
            console.MarkupLine("[yellow]no point met the latency targets; nothing recommended[/]");
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
        var (workload, count) = BenchRunner.BuildWorkload(w.Trace, w.Isl, w.Osl, null, point.Rate, 1, w.Requests ?? (w.Trace is null ? 500 : null), config.Seed);
        var (outcome, _) = await ReplayRunner.RunAsync(options, workload, count, console: null, outDir: null, jsonPath: null, plots: false, cancellationToken).ConfigureAwait(false);
        JsonObject json = outcome.Json;
        json["point"] = JsonSerializer.SerializeToNode(point);
        string file = Path.Combine(pointsDir, point.Id + ".json");
        string partial = file + ".partial";
        await File.WriteAllTextAsync(partial, JsonReport.Serialize(json), cancellationToken).ConfigureAwait(false);
        File.Move(partial, file, overwrite: true);
        return outcome.Summary;
    }

    /// <summary>The row with the most goodput per GPU; ties go to fewer GPUs, then lower TTFT p90.</summary>
    public static SweepRow? Recommend(IReadOnlyList<SweepRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        return rows.Where(r => r.GoodputPerGpu > 0)
            .OrderByDescending(r => Math.Round(r.GoodputPerGpu, 9))
            .ThenBy(r => r.Point.Gpus)
            .ThenBy(r => r.Summary.TtftMs.P90)
            .FirstOrDefault();
    }

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

    /// <summary>What <c>dynamo serve --config</c> reads for this configuration.</summary>
    public static string ServeYaml(SweepRow row, string profile)
    {
        ArgumentNullException.ThrowIfNull(row);
        SweepPoint p = row.Point;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# dynamo serve --config recommended.yaml\n# Recommended by dynamo sweep (profile {profile}): {row.GoodputPerGpu:0.###} goodput req/s per GPU at {p.Rate} req/s,\n");
        text.Append(CultureInfo.InvariantCulture, $"# TTFT p90 {row.Summary.TtftMs.P90:0.#} ms, ITL p90 {row.Summary.ItlMs.P90:0.##} ms, {p.Gpus} GPUs.\n");
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
            + string.Join(',', CsvReport.SummaryColumns) + ",output_tokens_per_s_per_gpu,goodput_requests_per_s_per_gpu,pareto_ttft,pareto_itl\n");
        var ttftFront = Pareto(result.Rows, r => r.Summary.TtftMs.P90).ToHashSet();
        var itlFront = Pareto(result.Rows, r => r.Summary.ItlMs.P90).ToHashSet();
        foreach (SweepRow row in result.Rows)
        {
            SweepPoint p = row.Point;
            csv.Append(CultureInfo.InvariantCulture, $"{p.Id},{p.Gpus},{p.Mode},{p.Workers},{p.PrefillWorkers},{p.DecodeWorkers},{p.Router},{p.PrefillLoadScale},{p.MinRemotePrefill},{p.MaxNumSeqs},{p.Rate},");
            csv.Append(string.Join(',', CsvReport.SummaryRow(row.Summary)));
            csv.Append(CultureInfo.InvariantCulture, $",{CsvReport.Num(row.ThroughputPerGpu)},{CsvReport.Num(row.GoodputPerGpu)},{(ttftFront.Contains(row) ? 1 : 0)},{(itlFront.Contains(row) ? 1 : 0)}\n");
        }

        await File.WriteAllTextAsync(Path.Combine(outDir, "sweep.csv"), csv.ToString(), cancellationToken).ConfigureAwait(false);
        ParetoPlot(result.Rows, ttftFront, r => r.Summary.TtftMs.P90, "TTFT p90 (ms)", config.Slo.TtftMs, Path.Combine(outDir, "pareto_ttft.png"));
        ParetoPlot(result.Rows, itlFront, r => r.Summary.ItlMs.P90, "ITL p90 (ms)", config.Slo.ItlMs, Path.Combine(outDir, "pareto_itl.png"));
        string recommended = Path.Combine(outDir, "recommended.yaml");
        if (result.Recommended is { } best)
        {
            await File.WriteAllTextAsync(recommended, ServeYaml(best, result.Profile.Name), cancellationToken).ConfigureAwait(false);
        }
        else if (File.Exists(recommended))
        {
            File.Delete(recommended);
        }
    }

    private static void ParetoPlot(IReadOnlyList<SweepRow> rows, HashSet<SweepRow> front, Func<SweepRow, double> latency, string label, double? target, string path)
    {
        var plot = new Plot();
        foreach (var group in rows.GroupBy(r => r.Point.Mode))
        {
            var scatter = plot.Add.ScatterPoints(group.Select(latency).ToArray(), group.Select(r => r.ThroughputPerGpu).ToArray());
            scatter.LegendText = group.Key;
            scatter.MarkerSize = 7;
        }

        var ordered = front.OrderBy(latency).ToList();
        if (ordered.Count > 0)
        {
            var line = plot.Add.ScatterLine(ordered.Select(latency).ToArray(), ordered.Select(r => r.ThroughputPerGpu).ToArray());
            line.LegendText = "Pareto front";
            line.LineWidth = 2;
        }

        if (target is { } t)
        {
            var v = plot.Add.VerticalLine(t);
            v.LegendText = "target";
            v.LinePattern = LinePattern.Dashed;
        }

        plot.ShowLegend();
        plot.Title($"dynamo sweep: output tokens/s per GPU against {label}");
        plot.XLabel(label);
        plot.YLabel("output tokens/s per GPU");
        plot.SavePng(path, PlotReport.Width, PlotReport.Height);
    }

    private static Table Table(SweepResult result)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("best rate per configuration (by goodput per GPU)");
        foreach (string column in new[] { "configuration", "GPUs", "rate", "TTFT p90 ms", "ITL p90 ms", "tok/s/GPU", "goodput/GPU" })
        {
            table.AddColumn(column);
        }

        foreach (var group in result.Rows.GroupBy(r => r.Point.ConfigId))
        {
            SweepRow best = group.OrderByDescending(r => r.GoodputPerGpu).ThenByDescending(r => r.ThroughputPerGpu).First();
            bool recommended = ReferenceEquals(best, result.Recommended);
            string name = Markup.Escape(group.Key);
            table.AddRow(
                recommended ? $"[bold green]{name}[/]" : name,
                best.Point.Gpus.ToString(CultureInfo.InvariantCulture),
                best.Point.Rate.ToString(CultureInfo.InvariantCulture),
                best.Summary.TtftMs.P90.ToString("0.#", CultureInfo.InvariantCulture),
                best.Summary.ItlMs.P90.ToString("0.##", CultureInfo.InvariantCulture),
                best.ThroughputPerGpu.ToString("0.#", CultureInfo.InvariantCulture),
                best.GoodputPerGpu.ToString("0.###", CultureInfo.InvariantCulture));
        }

        return table;
    }
}

/// <summary>One point's outcome.</summary>
public sealed record SweepRow(SweepPoint Point, BenchSummary Summary)
{
    public double ThroughputPerGpu => Summary.OutputTokensPerS / Point.Gpus;

    public double GoodputPerGpu => Summary.GoodputRequestsPerS / Point.Gpus;
}

/// <summary>All rows, the recommendation (null when nothing met the targets) and the profile used.</summary>
public sealed record SweepResult(IReadOnlyList<SweepRow> Rows, SweepRow? Recommended, PerformanceProfile Profile);
