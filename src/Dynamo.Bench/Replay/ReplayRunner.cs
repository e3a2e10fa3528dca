using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.Bench.Load;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Reports;
using Dynamo.Bench.Workload;
using ScottPlot;
using Spectre.Console;

namespace Dynamo.Bench.Replay;

/// <summary><c>dynamo replay</c>: a workload through a <see cref="ClusterSimulator"/>, reported like bench plus hit rates, per-worker load and KV usage.</summary>
public static class ReplayRunner
{
    public static async Task<(BenchOutcome Outcome, ReplayRun Run)> RunAsync(
        ReplayOptions options,
        IEnumerable<BenchRequest> workload,
        int? count,
        IAnsiConsole? console,
        string? outDir,
        string? jsonPath,
        bool plots = true,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var simulator = new ClusterSimulator(options);
        ReplayRun run = null!;
        if (console is null)
        {
            run = await simulator.RunAsync(workload, null, count, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask("simulated requests", maxValue: count ?? 1);
                    task.IsIndeterminate = count is null;
                    var progress = new Progress<BenchProgress>(p =>
                    {
                        task.Value = count is null ? 0 : p.Completed;
                        task.Description = $"simulated requests {p.Completed}{(count is { } n ? $"/{n}" : "")}";
                    });
                    run = await simulator.RunAsync(workload, progress, count, cancellationToken).ConfigureAwait(false);
                    task.Value = task.MaxValue;
                    task.StopTask();
                }).ConfigureAwait(false);
        }

        BenchSummary summary = MetricsAggregator.Summarize(run.Results, options.Slo);
        JsonObject json = JsonReport.ToJson(summary, Extra(options, run, summary));
        string title = Title(options);
        console?.Write(ConsoleReport.Table(summary, title, Rows(options, run, summary)));
        var files = new List<string>();
        if (outDir is not null)
        {
            files.AddRange(await ReportWriter.WriteAsync(outDir, "replay", json, summary, run.Results, plots, cancellationToken).ConfigureAwait(false));
            string workers = Path.Combine(outDir, "workers.csv");
            await File.WriteAllTextAsync(workers, WorkersCsv(run), cancellationToken).ConfigureAwait(false);
            files.Add(workers);
            string usage = Path.Combine(outDir, "kv_usage.csv");
            await File.WriteAllTextAsync(usage, KvUsageCsv(run), cancellationToken).ConfigureAwait(false);
            files.Add(usage);
            string pools = Path.Combine(outDir, "pools.csv");
            await File.WriteAllTextAsync(pools, PoolsCsv(run), cancellationToken).ConfigureAwait(false);
            files.Add(pools);
            if (options.Planner is not null)
            {
                string decisions = Path.Combine(outDir, "planner_decisions.csv");
                await File.WriteAllTextAsync(decisions, DecisionsCsv(run), cancellationToken).ConfigureAwait(false);
                files.Add(decisions);
            }

            if (plots)
            {
                files.Add(KvUsagePlot(run, Path.Combine(outDir, "kv_usage.png"), title));
                files.Add(TimelinePlot.Write(run, Path.Combine(outDir, "timeline.png"), title, options.Slo.TtftMs, options.Slo.ItlMs));
            }

            console?.MarkupLine($"[grey]wrote {Markup.Escape(string.Join(", ", files.Select(Path.GetFileName)))} to {Markup.Escape(outDir)}[/]");
        }

        if (jsonPath is not null)
        {
            await JsonReport.WriteAsync(json, jsonPath, cancellationToken).ConfigureAwait(false);
        }

        return (new BenchOutcome(summary, json, run.Results, files), run);
    }

    public static string Title(ReplayOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        string shape = o.IsDisaggregated ? $"disagg {o.PrefillWorkers}P+{o.DecodeWorkers}D" : $"agg {o.Workers} workers";
        string planner = o.Planner is { } p ? $" at start, planner {p.Name}" : "";
        string profile = o.PrefillProfile is { } prefill ? $"prefill {prefill.Name}, decode {o.Profile.Name}" : o.Profile.Name;
        return $"dynamo replay: {shape}{planner}, router {o.Router}, profile {profile}, {o.Profile.MaxNumBatchedTokens} tokens a step";
    }

    /// <summary>Mean GPUs over the run: <see cref="ReplayRun.GpuHours"/> over its span (the fixed count without a planner).</summary>
    public static double MeanGpus(ReplayOptions options, ReplayRun run)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(run);
        return options.Planner is null || run.EndS <= 0 ? options.Gpus : run.GpuHours * 3600 / run.EndS;
    }

    /// <summary>The <c>scaling</c> array: <c>{t_s, prefill, decode}</c> (disagg) or <c>{t_s, workers}</c> (agg), and the reason.</summary>
    public static JsonArray ScalingJson(ReplayRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new JsonArray([.. run.Scaling.Select(c =>
        {
            var entry = new JsonObject { ["t_s"] = Math.Round(c.TimeS, 3) };
            if (c.Workers.TryGetValue(Contracts.WorkerRole.Aggregated, out int workers))
            {
                entry["workers"] = workers;
            }
            else
            {
                entry["prefill"] = c.Workers.GetValueOrDefault(Contracts.WorkerRole.Prefill);
                entry["decode"] = c.Workers.GetValueOrDefault(Contracts.WorkerRole.Decode);
            }

            entry["reason"] = c.Reason;
            return (JsonNode)entry;
        })]);
    }

    /// <summary>Goodput per GPU, the sweep's figure of merit.</summary>
    public static double GoodputPerGpu(ReplayOptions options, BenchSummary summary)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(summary);
        return options.Gpus == 0 ? 0 : summary.GoodputRequestsPerS / options.Gpus;
    }

    private static Dictionary<string, JsonNode?> Extra(ReplayOptions o, ReplayRun run, BenchSummary summary) => new()
    {
        ["tool"] = "replay",
        ["mode"] = o.Mode,
        ["router"] = o.Router,
        ["profile"] = o.Profile.Name,
        ["prefill_profile"] = o.IsDisaggregated ? o.ProfileOf(Contracts.WorkerRole.Prefill).Name : null,
        ["tp"] = o.IsDisaggregated ? null : o.Profile.GpusPerWorker,
        ["prefill_tp"] = o.IsDisaggregated ? o.ProfileOf(Contracts.WorkerRole.Prefill).GpusPerWorker : null,
        ["decode_tp"] = o.IsDisaggregated ? o.Profile.GpusPerWorker : null,
        ["max_num_batched_tokens"] = o.Profile.MaxNumBatchedTokens,
        ["workers"] = o.IsDisaggregated ? o.PrefillWorkers + o.DecodeWorkers : o.Workers,
        ["prefill_workers"] = o.PrefillWorkers,
        ["decode_workers"] = o.DecodeWorkers,
        ["gpus"] = o.Gpus,
        ["seed"] = o.Seed,
        ["output_tokens_per_s_per_gpu"] = MeanGpus(o, run) is var g and > 0 ? summary.OutputTokensPerS / g : 0,
        ["goodput_requests_per_s_per_gpu"] = MeanGpus(o, run) is var h and > 0 ? summary.GoodputRequestsPerS / h : 0,
        ["sla_attainment"] = SlaAttainment.Of(run.Results, o.Slo.TtftMs, o.Slo.ItlMs, o.Slo.ItlMetric),
        ["sla_attainment_targets"] = new JsonObject
        {
            ["ttft_ms"] = o.Slo.TtftMs,
            ["itl_ms"] = o.Slo.ItlMs,
            ["itl_judged_on"] = o.Slo.ItlMetric,
        },
        ["gpu_hours"] = run.GpuHours,
        ["mean_gpus"] = MeanGpus(o, run),
        ["peak_gpus"] = PeakGpus(o, run),
        ["scaling"] = ScalingJson(run),
        ["planner"] = o.Planner is not { } p ? null : new JsonObject
        {
            ["policy"] = p.Name,
            ["interval_s"] = p.IntervalS,
            ["startup_delay_s"] = p.StartupDelayS,
            ["decisions"] = run.Decisions.Count,
            ["changes"] = run.Scaling.Count - 1,
            ["reasons"] = new JsonObject([.. run.Decisions.GroupBy(d => d.Decision.Reason.ToString().ToLowerInvariant()).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => KeyValuePair.Create(g.Key, (JsonNode?)g.Count()))]),
            ["workers_started"] = run.Workers.Count(w => w.StartS > 0),
            ["workers_drained"] = run.Workers.Count(w => w.StopS is not null),
        },
        ["remote_prefill_fraction"] = run.RemotePrefillFraction,
        ["preemptions"] = run.Preemptions,
        ["router_decision_us"] = JsonSerializer.SerializeToNode(run.RouterDecisionUs),
        ["router_decision_timing_control_us"] = JsonSerializer.SerializeToNode(run.TimingControlUs),
        ["router_decision_us_by_prompt_tokens"] = new JsonObject(run.RouterDecisionUsByPrompt
            .Where(b => b.DecisionUs.Count > 0)
            .Select(b => KeyValuePair.Create(b.PromptTokens, JsonSerializer.SerializeToNode(b.DecisionUs)))),
        ["simulated_s"] = run.SimulatedS,
        ["wall_s"] = run.WallS,
        ["events"] = run.Events,
        ["kv_usage_mean"] = run.KvUsage.Count == 0 ? 0 : run.KvUsage.Average(s => s.Mean),
        ["kv_usage_peak"] = run.KvUsage.Count == 0 ? 0 : run.KvUsage.Max(s => s.Max),
        ["cluster_lru_hit_rate"] = run.ClusterLruHitRate,
        ["worker_busy_max_over_mean"] = run.WorkerBusyMaxOverMean,
        ["per_worker"] = new JsonArray([.. run.Workers.Select(w => (JsonNode)new JsonObject
        {
            ["id"] = w.Id,
            ["role"] = w.Role,
            ["requests"] = w.Requests,
            ["prompt_tokens"] = w.PromptTokens,
            ["cached_tokens"] = w.CachedTokens,
            ["hit_rate"] = w.HitRate,
            ["output_tokens"] = w.OutputTokens,
            ["busy_fraction"] = w.BusyFraction,
            ["busy_s"] = w.BusyS,
            ["kv_usage_mean"] = w.MeanKvUsage,
            ["kv_usage_peak"] = w.PeakKvUsage,
            ["preemptions"] = w.Preemptions,
        })]),
    };

    private static IEnumerable<(string, string)> Rows(ReplayOptions o, ReplayRun run, BenchSummary summary)
    {
        static string P(double x) => x.ToString("P1", CultureInfo.InvariantCulture);
        var busy = run.Workers.Select(w => w.BusyFraction).DefaultIfEmpty(0).ToList();
        var requests = run.Workers.Select(w => (double)w.Requests).DefaultIfEmpty(0).ToList();
        yield return ("GPUs", o.Planner is null ? o.Gpus.ToString(CultureInfo.InvariantCulture) : $"{o.Gpus} at start, mean {MeanGpus(o, run):0.0}, peak {PeakGpus(o, run)}");
        yield return ("GPU-hours", run.GpuHours.ToString("0.###", CultureInfo.InvariantCulture));
        if (SlaAttainment.Of(run.Results, o.Slo.TtftMs, o.Slo.ItlMs, o.Slo.ItlMetric) is { } attained)
        {
            yield return ("SLA attainment (TTFT and ITL)", P(attained));
        }

        if (o.Planner is not null)
        {
            yield return ("scaling changes / decisions", $"{run.Scaling.Count - 1} / {run.Decisions.Count}");
        }

        yield return ("goodput req/s per GPU", ConsoleReport.F(GoodputPerGpu(o, summary)));
        yield return ("output tokens/s per GPU", ConsoleReport.F(o.Gpus == 0 ? 0 : summary.OutputTokensPerS / o.Gpus));
        yield return ("requests per worker min / mean / max", $"{requests.Min():0} / {requests.Average():0.0} / {requests.Max():0}");
        yield return ("worker busy min / mean / max", $"{P(busy.Min())} / {P(busy.Average())} / {P(busy.Max())}");
        yield return ("worker busy time max ÷ mean", run.WorkerBusyMaxOverMean is { } spread ? spread.ToString("0.00", CultureInfo.InvariantCulture) : "n/a");
        yield return ("hit rate, one cluster-wide LRU of the same KV", run.ClusterLruHitRate is { } lru ? P(lru) : "n/a");
        yield return ("KV usage mean / peak", run.KvUsage.Count == 0 ? "n/a" : $"{P(run.KvUsage.Average(s => s.Mean))} / {P(run.KvUsage.Max(s => s.Max))}");
        if (o.IsDisaggregated)
        {
            yield return ("prefilled remotely", P(run.RemotePrefillFraction));
        }

        yield return ("preemptions", run.Preemptions.ToString(CultureInfo.InvariantCulture));
        yield return ("router decision µs p50 / p99 / max", $"{run.RouterDecisionUs.P50:0.0} / {run.RouterDecisionUs.P99:0.0} / {run.RouterDecisionUs.Max:0.0}");
        foreach (DecisionBucket bucket in run.RouterDecisionUsByPrompt.Where(b => b.DecisionUs.Count > 0))
        {
            LatencySummary d = bucket.DecisionUs;
            yield return ($"  prompts of {bucket.PromptTokens} tokens ({d.Count})", $"{d.P50:0.0} / {d.P99:0.0} / {d.Max:0.0}");
        }

        yield return ($"  timing control: hashing {ClusterSimulator.ControlTokens} tokens", $"{run.TimingControlUs.P50:0.0} / {run.TimingControlUs.P99:0.0} / {run.TimingControlUs.Max:0.0}");
        yield return ("simulated / wall seconds", $"{run.SimulatedS:0.0} / {run.WallS:0.00} ({run.Events} events)");
    }

    /// <summary>Most GPUs held at once (starting and draining workers included).</summary>
    public static int PeakGpus(ReplayOptions options, ReplayRun run)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(run);
        if (options.Planner is null)
        {
            return options.Gpus;
        }

        int peak = 0;
        foreach (var at in run.PoolSamples.GroupBy(p => p.TimeS))
        {
            peak = Math.Max(peak, at.Sum(p => (p.Ready + p.Starting + p.Draining) * options.ProfileOf(p.Role).GpusPerWorker));
        }

        return peak;
    }

    private static string PoolsCsv(ReplayRun run)
    {
        var text = new StringBuilder("time_s,role,ready,starting,draining\n");
        foreach (PoolSample s in run.PoolSamples)
        {
            text.Append(CultureInfo.InvariantCulture, $"{s.TimeS:0.###},{s.Role.ToString().ToLowerInvariant()},{s.Ready},{s.Starting},{s.Draining}\n");
        }

        return text.ToString();
    }

    private static string DecisionsCsv(ReplayRun run)
    {
        var text = new StringBuilder("time_s,observed_requests_per_s,reason,carried,targets,predicted_requests_per_s,predicted_isl,predicted_osl,detail\n");
        foreach (TimedDecision d in run.Decisions)
        {
            string targets = string.Join(' ', d.Decision.Targets.OrderBy(t => t.Key).Select(t => $"{t.Key.ToString().ToLowerInvariant()}={t.Value}"));
            string detail = d.Decision.Detail.Replace("\"", "\"\"", StringComparison.Ordinal);
            text.Append(CultureInfo.InvariantCulture, $"{d.TimeS:0.###},{d.Observed:0.###},{d.Decision.Reason.ToString().ToLowerInvariant()},{(d.Carried ? "true" : "false")},{targets},{d.Decision.PredictedRequestRate:0.###},{d.Decision.PredictedInputTokens:0.#},{d.Decision.PredictedOutputTokens:0.#},\"{detail}\"\n");
        }

        return text.ToString();
    }

    private static string WorkersCsv(ReplayRun run)
    {
        var text = new StringBuilder("id,role,requests,prompt_tokens,cached_tokens,hit_rate,output_tokens,busy_fraction,kv_usage_mean,kv_usage_peak,steps,preemptions,start_s,ready_s,stop_s\n");
        foreach (WorkerReport w in run.Workers)
        {
            text.Append(CultureInfo.InvariantCulture, $"{w.Id},{w.Role},{w.Requests},{w.PromptTokens},{w.CachedTokens},{w.HitRate:0.####},{w.OutputTokens},{w.BusyFraction:0.####},{w.MeanKvUsage:0.####},{w.PeakKvUsage:0.####},{w.Steps},{w.Preemptions},{w.StartS:0.###},{w.ReadyS:0.###},{w.StopS:0.###}\n");
        }

        return text.ToString();
    }

    private static string KvUsageCsv(ReplayRun run)
    {
        var text = new StringBuilder("time_s,mean,max,active_requests\n");
        foreach (KvUsageSample s in run.KvUsage)
        {
            text.Append(CultureInfo.InvariantCulture, $"{s.TimeS:0.###},{s.Mean:0.####},{s.Max:0.####},{s.ActiveRequests}\n");
        }

        return text.ToString();
    }

    private static string KvUsagePlot(ReplayRun run, string path, string title)
    {
        var plot = new Plot();
        double[] xs = [.. run.KvUsage.Select(s => s.TimeS)];
        if (xs.Length > 0)
        {
            var mean = plot.Add.ScatterLine(xs, run.KvUsage.Select(s => s.Mean * 100).ToArray());
            mean.LegendText = "mean over workers";
            var max = plot.Add.ScatterLine(xs, run.KvUsage.Select(s => s.Max * 100).ToArray());
            max.LegendText = "busiest worker";
            plot.ShowLegend(Edge.Bottom); // outside the data: usage can sit in any corner
        }

        plot.Title($"{title}: KV usage");
        plot.XLabel("simulated time (s)");
        plot.YLabel("KV blocks in use (%)");

        // A share of the pool: never below 0, and 100 % stays in view so a full pool reads as full.
        plot.Axes.SetLimitsY(0, 105);
        if (xs.Length > 0)
        {
            plot.Axes.SetLimitsX(0, Math.Max(1, xs[^1]));
        }

        plot.SavePng(path, PlotReport.Width, PlotReport.Height);
        return path;
    }
}
