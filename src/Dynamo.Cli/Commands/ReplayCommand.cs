using System.CommandLine;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Replay;
using Dynamo.Bench.Reports;
using Dynamo.Bench.Traces;
using Dynamo.Bench.Workload;
using Dynamo.Cli.Configuration;
using Dynamo.Engine.Mocker.Profiles;
using Spectre.Console;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo replay --trace FILE|--workload conversation|agentic --workers N [--router ...] [--mode agg|disagg] [--profile NAME]</c>: the workload
/// through a simulated cluster in virtual time. <c>--planner FILE</c>: the pools are resized during the run by the
/// policy <c>Dynamo:Planner</c> in FILE configures (the counts given are the sizes at the start).
/// Exit codes: 0 done, 1 bad arguments, unreadable trace or bad planner file (the message names the file and key).
/// </summary>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var trace = new Option<string?>("--trace") { Description = "Trace file: Mooncake .jsonl or Azure .csv." };
        var isl = new Option<string?>("--isl") { Description = "Synthetic input length: N, uniform:MIN:MAX, normal:MEAN:SD or lognormal:MEDIAN:SIGMA." };
        var osl = new Option<string?>("--osl") { Description = "Synthetic output length, same forms." };
        var rate = new Option<double?>("--rate") { Description = "Arrivals per second (synthetic, or to override the trace's timing)." };
        var arrival = new Option<string?>("--arrival") { Description = "poisson (default with --rate), constant, or trace." };
        var requests = new Option<int?>("--requests") { Description = "Requests (default: the whole trace)." };
        var speedup = new Option<double>("--speedup") { Description = "Divide the trace's timestamps by this (default 1).", DefaultValueFactory = _ => 1 };
        var mode = new Option<string>("--mode") { Description = "agg or disagg (default agg).", DefaultValueFactory = _ => "agg" };
        var workers = new Option<int>("--workers") { Description = "Aggregated workers (default 1).", DefaultValueFactory = _ => 1 };
        var prefill = new Option<int>("--prefill-workers") { Description = "Prefill workers in disagg mode.", DefaultValueFactory = _ => 1 };
        var decode = new Option<int>("--decode-workers") { Description = "Decode workers in disagg mode.", DefaultValueFactory = _ => 1 };
        var router = new Option<string>("--router") { Description = "round-robin, random, least-loaded, kv (default) or oracle.", DefaultValueFactory = _ => "kv" };
        var profile = new Option<string>("--profile") { Description = $"{string.Join(", ", PerformanceProfiles.Names)} or fit:FILE (default h100-8b).", DefaultValueFactory = _ => "h100-8b" };
        var kvBlocks = new Option<int?>("--kv-blocks") { Description = "KV blocks per worker instead of the profile's (to see what the cache size costs); every worker, both roles in disagg mode." };
        var tp = new Option<int?>("--tp") { Description = "agg: tensor-parallel degree (GPUs) of every worker, the roofline preset rebuilt at it (default: the profile's own, e.g. 4 for h100-70b). disagg: use --prefill-tp and --decode-tp." };
        var prefillTp = new Option<int?>("--prefill-tp") { Description = "disagg: tensor-parallel degree of the prefill workers (default: the profile's own)." };
        var decodeTp = new Option<int?>("--decode-tp") { Description = "disagg: tensor-parallel degree of the decode workers (default: the profile's own)." };
        var seqs = new Option<int?>("--max-num-seqs") { Description = "Sequences one worker batches at most, every worker (vLLM's max_num_seqs; default: the profile's, 256)." };
        var budget = new Option<int?>("--max-num-batched-tokens") { Description = "Token budget of one step, every worker (vLLM's max_num_batched_tokens): decode tokens and prefill chunks share it, so a long prompt is prefilled in chunks across steps (default: the profile's, 8192)." };
        var scale = new Option<double?>("--prefill-load-scale") { Description = "kv router: weight of the prefill term (default 1)." };
        var temperature = new Option<double?>("--temperature") { Description = "kv router: softmax temperature (default 0)." };
        var kvCost = new Option<string?>("--kv-cost") { Description = "kv router: price candidates by predicted TTFT (predicted, the default) or in blocks (blocks, the router before issue 19)." };
        var balanceAbsolute = new Option<int?>("--balance-absolute") { Description = "kv router, predicted cost: hot-spot control, requests in flight the cheapest worker may carry above the least busy one (default 4; 0 off)." };
        var balanceRelative = new Option<double?>("--balance-relative") { Description = "kv router, predicted cost: hot-spot control, ratio of in-flight requests, cheapest over least busy, that must also be exceeded (default 1.5)." };
        var busyCost = new Option<double?>("--busy-cost") { Description = "kv router, predicted cost: ms of cost per unit of a worker's recent busy fraction, for prompts of --busy-cost-tokens or more (default: the router's BusyCostMs, 600; 0 off)." };
        var busyCostTokens = new Option<int?>("--busy-cost-tokens") { Description = "kv router, predicted cost: prompt length at which the busy cost applies in full; shorter prompts pay in proportion (default: the router's BusyCostTokens, 8192; 0 no scaling)." };
        var busyFloor = new Option<double?>("--busy-floor") { Description = "kv router, predicted cost: the busy fraction at or below which the busy cost is 0 (default: the router's BusyFloor)." };
        var busyWindow = new Option<double?>("--busy-window") { Description = "kv router, predicted cost: the busy fraction's time constant, seconds (default: the router's BusyWindow, 10)." };
        var impact = new Option<double?>("--decode-impact-weight") { Description = "kv router, predicted cost: weight of the delay a prefill adds to running decodes (default 0: TTFT alone)." };
        var remote = new Option<int>("--min-remote-prefill") { Description = "disagg: prefill locally below this many uncached tokens (default 2048).", DefaultValueFactory = _ => 2048 };
        var output = new Option<string?>("--out") { Description = "Folder for summary.json, CSVs (requests, workers, KV usage) and PNG plots." };
        var json = new Option<string?>("--json") { Description = "JSON summary to FILE, or - for standard output." };
        var ttft = new Option<double?>("--slo-ttft-ms") { Description = "TTFT target for goodput, ms." };
        var itl = new Option<double?>("--slo-itl-ms") { Description = "ITL target for goodput, ms." };
        var itlMetric = new Option<string?>("--slo-itl-metric") { Description = "What the ITL target is judged on: token_p90 (default: the 90th percentile of the token gaps) or request_mean (each request's mean gap; the default with --planner, whose decode profile predicts it)." };
        var sortTrace = new Option<bool>(TraceReader.SortFlag) { Description = "Sort a trace whose timestamps go backwards (with a warning) instead of refusing it." };
        var seed = new Option<int>("--seed") { Description = "Seed of the workload and the router (default 0).", DefaultValueFactory = _ => 0 };
        var noPlots = new Option<bool>("--no-plots") { Description = "Skip the PNG plots." };
        var lengthSchedule = new Option<string?>("--length-schedule") { Description = "Shift the ISL/OSL mix over time: SECONDS:ISL_MULTIPLIER:OSL_MULTIPLIER,... by arrival time in the replay (e.g. 0:1:1,600:2:0.5), or a file of such entries." };
        var planner = new Option<string?>("--planner") { Description = "Planner configuration (YAML with a Dynamo:Planner section, e.g. configs/planner.yaml): resize the pools during the run with its policy, in virtual time. Pool sizes given are the sizes at the start (default: each pool's Min)." };
        var startup = new Option<double?>("--startup-delay-s") { Description = "With --planner: seconds from asking for a worker to its serving (default: the file's WorkerStartupTime, 60 s)." };
        var exportTrace = new Option<string?>("--export-trace") { Description = "Write the workload (after --rate-schedule and --length-schedule) as a Mooncake JSONL trace (timestamp, input_length, output_length, hash_ids) to FILE before replaying it." };
        var sessions = new WorkloadFlags();
        var rateSchedule = new Option<string?>("--rate-schedule") { Description = "Reshape the load over time: SECONDS:MULTIPLIER,... of the arrival rate along the replay's timeline (e.g. 0:1,600:3,1200:1), or a file of such entries. Arrival times are warped; requests and lengths stay the trace's." };

        var command = new Command("replay", "Replay a trace against a simulated cluster (mocker engines, the real router, virtual time).")
        {
            trace, isl, osl, rate, arrival, requests, speedup, mode, workers, prefill, decode, router, profile, kvBlocks, tp, prefillTp, decodeTp, budget, seqs, scale, temperature, kvCost, impact, balanceAbsolute, balanceRelative, busyCost, busyCostTokens, busyFloor, busyWindow, remote, output, json, ttft, itl, itlMetric, sortTrace, seed, noPlots, rateSchedule, lengthSchedule, planner, startup, exportTrace,
        };
        sessions.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            string? tracePath = parse.GetValue(trace);
            (SessionWorkloadOptions? sessionWorkload, string? error) = sessions.Parse(
                parse, parse.GetValue(rate), parse.GetValue(arrival), parse.GetValue(requests), parse.GetValue(osl), parse.GetValue(seed),
                [
                    (trace, "--workload and --trace are alternatives: the workload makes its own requests (--export-trace FILE saves them as a trace)."),
                    (isl, "--isl does not apply to --workload: a turn's prompt is its session's context so far; set each turn's new input with --turn-tokens."),
                    (speedup, "--speedup applies to --trace; with --workload set the pace with --rate (new sessions per second) or --rate-schedule."),
                ]);
            if (error is null && sessionWorkload is null)
            {
                error = ValidateWorkload(tracePath, parse.GetValue(isl), parse.GetValue(osl), parse.GetValue(rate), parse.GetValue(requests), parse.GetValue(speedup));
            }

            if (error is not null)
            {
                Console.Error.WriteLine($"dynamo replay: {error}");
                return 1;
            }

            RateSchedule? schedule = null;
            if (parse.GetValue(rateSchedule) is { } scheduleText)
            {
                try
                {
                    schedule = RateSchedule.Parse(scheduleText);
                }
                catch (Exception bad) when (bad is FormatException or IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"dynamo replay: {bad.Message}");
                    return 1;
                }
            }

            LengthSchedule? lengths = null;
            if (parse.GetValue(lengthSchedule) is { } lengthText)
            {
                try
                {
                    lengths = LengthSchedule.Parse(lengthText);
                }
                catch (Exception bad) when (bad is FormatException or IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"dynamo replay: {bad.Message}");
                    return 1;
                }
            }

            PlannerSetup? plannerSetup = null;
            if (parse.GetValue(planner) is { } plannerPath)
            {
                try
                {
                    plannerSetup = PlannerSetup.FromFile(plannerPath);
                }
                catch (PlannerFileException bad)
                {
                    Console.Error.WriteLine($"dynamo replay: {bad.Message}");
                    return 1;
                }
            }
            else if (parse.GetValue(startup) is not null)
            {
                Console.Error.WriteLine("dynamo replay: --startup-delay-s needs --planner FILE (without a planner the pools do not change size).");
                return 1;
            }

            string profileName = parse.GetValue(profile)!;
            if (plannerSetup?.SimulatorPreset is { } preset && parse.GetResult(profile) is not { Implicit: false })
            {
                profileName = preset; // the planner's profile was made from this preset: simulate the same hardware
            }

            string modeName = parse.GetValue(mode)!;
            string roles = plannerSetup?.Options.Mode ?? modeName; // the mode the cluster will run in
            int? aggTp = parse.GetValue(tp), pTp = parse.GetValue(prefillTp), dTp = parse.GetValue(decodeTp);
            string? tpError = roles == "disagg" && aggTp is { } t0
                ? $"--tp {t0} applies to agg mode: in disagg mode give each role its degree with --prefill-tp and --decode-tp."
                : roles != "disagg" && (pTp ?? dTp) is { } t1
                    ? $"--{(pTp is not null ? "prefill" : "decode")}-tp {t1} applies to disagg mode: aggregated workers prefill and decode alike; use --tp {t1}."
                    : plannerSetup is not null && pTp is { } tpP && tpP != (dTp ?? tpP)
                        ? $"--prefill-tp {tpP} and --decode-tp {dTp} differ, and the planner ({plannerSetup.Path}) sizes pools with one profile's GPUs a worker: give both roles one degree, or drop --planner."
                        : null;
            if (tpError is not null)
            {
                Console.Error.WriteLine($"dynamo replay: {tpError}");
                return 1;
            }

            if (parse.GetValue(budget) is < 1 || parse.GetValue(seqs) is < 1)
            {
                Console.Error.WriteLine(parse.GetValue(budget) is < 1
                    ? $"dynamo replay: --max-num-batched-tokens must be at least 1 (got {parse.GetValue(budget)})."
                    : $"dynamo replay: --max-num-seqs must be at least 1 (got {parse.GetValue(seqs)}).");
                return 1;
            }

            if (ItlMetrics.Error(parse.GetValue(itlMetric), "--slo-itl-metric") is { } badMetric)
            {
                Console.Error.WriteLine($"dynamo replay: {badMetric}");
                return 1;
            }

            PerformanceProfile perf;
            PerformanceProfile? prefillPerf = null;
            try
            {
                perf = PerformanceProfiles.Get(profileName, roles == "disagg" ? dTp : aggTp);
                if (roles == "disagg" && pTp is { } degree && degree != perf.GpusPerWorker)
                {
                    prefillPerf = PerformanceProfiles.Get(profileName, degree);
                }
            }
            catch (ArgumentException bad)
            {
                string flag = aggTp is not null ? "--tp" : pTp is not null || dTp is not null ? "--prefill-tp/--decode-tp" : "--profile";
                Console.Error.WriteLine($"dynamo replay: {flag}: {bad.Message}");
                return 1;
            }

            PerformanceProfile Adjust(PerformanceProfile p)
            {
                p = parse.GetValue(kvBlocks) is { } blocks ? p with { TotalKvBlocks = blocks } : p;
                p = parse.GetValue(seqs) is { } batch ? p with { MaxNumSeqs = batch } : p;
                return parse.GetValue(budget) is { } tokens ? p with { MaxNumBatchedTokens = tokens } : p;
            }

            if (parse.GetValue(kvBlocks) is < 1)
            {
                Console.Error.WriteLine($"dynamo replay: --kv-blocks must be at least 1 (got {parse.GetValue(kvBlocks)}).");
                return 1;
            }

            perf = Adjust(perf);
            prefillPerf = prefillPerf is null ? null : Adjust(prefillPerf);

            var slo = new SloTargets
            {
                TtftMs = parse.GetValue(ttft),
                ItlMs = parse.GetValue(itl),
                ItlMetric = parse.GetValue(itlMetric) ?? (plannerSetup is null ? ItlMetrics.Default : ItlMetrics.RequestMean),
            };
            ReplayPlanner? replayPlanner = null;
            int startWorkers = parse.GetValue(workers), startPrefill = parse.GetValue(prefill), startDecode = parse.GetValue(decode);
            if (plannerSetup is { } setup)
            {
                Dynamo.Planner.PlannerOptions po = setup.Options;
                string? conflict = parse.GetResult(mode) is { Implicit: false } && modeName != po.Mode
                    ? $"--mode {modeName} differs from the planner's Dynamo:Planner:Mode '{po.Mode}' ({setup.Path}); drop --mode or change the file."
                    : slo.TtftMs is { } t && t != po.Sla.TtftMs
                        ? $"--slo-ttft-ms {t} differs from the planner's Dynamo:Planner:Sla:TtftMs {po.Sla.TtftMs} ({setup.Path}): sla_attainment would judge another target than the planner plans for; drop the flag or change the file."
                        : slo.ItlMs is { } i && i != po.Sla.ItlMs
                            ? $"--slo-itl-ms {i} differs from the planner's Dynamo:Planner:Sla:ItlMs {po.Sla.ItlMs} ({setup.Path}): sla_attainment would judge another target than the planner plans for; drop the flag or change the file."
                            : null;
                if (conflict is not null)
                {
                    Console.Error.WriteLine($"dynamo replay: {conflict}");
                    return 1;
                }

                modeName = po.Mode;
                slo = slo with { TtftMs = po.Sla.TtftMs, ItlMs = po.Sla.ItlMs };
                startWorkers = parse.GetResult(workers) is { Implicit: false } ? startWorkers : Math.Max(1, po.Workers.Min);
                startPrefill = parse.GetResult(prefill) is { Implicit: false } ? startPrefill : po.Prefill.Min;
                startDecode = parse.GetResult(decode) is { Implicit: false } ? startDecode : Math.Max(1, po.Decode.Min);
                replayPlanner = new ReplayPlanner
                {
                    Policy = setup.Policy,
                    Name = po.Policy,
                    IntervalS = po.LoadInterval.TotalSeconds,
                    StartupDelayS = parse.GetValue(startup) ?? po.WorkerStartupTime.TotalSeconds,
                };
                if (setup.GpusPerWorker is { } planned && planned != perf.GpusPerWorker)
                {
                    Console.Error.WriteLine($"dynamo replay: warning: the planner's profile ({setup.Options.Profile}) has {planned} GPUs a worker, the simulated profile {perf.Name} {perf.GpusPerWorker}; the planner's GPU arithmetic will not match the cluster's.");
                }
            }

            var options = new ReplayOptions
            {
                Mode = modeName,
                Workers = startWorkers,
                PrefillWorkers = modeName == "disagg" ? startPrefill : 0,
                DecodeWorkers = modeName == "disagg" ? startDecode : 0,
                Router = parse.GetValue(router)!,
                PrefillLoadScale = parse.GetValue(scale),
                Temperature = parse.GetValue(temperature),
                KvCost = parse.GetValue(kvCost),
                DecodeImpactWeight = parse.GetValue(impact),
                BalanceAbsoluteThreshold = parse.GetValue(balanceAbsolute),
                BalanceRelativeThreshold = parse.GetValue(balanceRelative),
                BusyCostMs = parse.GetValue(busyCost),
                BusyCostTokens = parse.GetValue(busyCostTokens),
                BusyFloor = parse.GetValue(busyFloor),
                BusyWindowS = parse.GetValue(busyWindow),
                Profile = perf,
                PrefillProfile = prefillPerf,
                MinRemotePrefillTokens = parse.GetValue(remote),
                Slo = slo,
                Seed = parse.GetValue(seed),
                Planner = replayPlanner,
            };
            if (options.FirstError() is { } bad2)
            {
                Console.Error.WriteLine($"dynamo replay: {bad2}");
                return 1;
            }

            string? jsonPath = parse.GetValue(json);
            IAnsiConsole console = jsonPath == "-" ? ConsoleReport.StandardError() : AnsiConsole.Console;
            try
            {
                var (workload, count) = sessionWorkload is not null
                    ? (ConversationWorkload.Generate(sessionWorkload), ConversationWorkload.CountRequests(sessionWorkload))
                    : Dynamo.Bench.Load.BenchRunner.BuildWorkload(tracePath, parse.GetValue(isl), parse.GetValue(osl), parse.GetValue(arrival), parse.GetValue(rate), parse.GetValue(speedup), parse.GetValue(requests), parse.GetValue(seed), parse.GetValue(sortTrace), warning => Console.Error.WriteLine($"dynamo replay: warning: {warning}"));
                if (schedule is not null)
                {
                    workload = schedule.Apply(workload);
                }

                if (lengths is not null)
                {
                    workload = lengths.Apply(workload);
                }

                if (parse.GetValue(exportTrace) is { } export)
                {
                    TraceWriter.Write(export, workload, cancellationToken);
                    console.MarkupLine($"[grey]wrote the workload to {Markup.Escape(export)}[/]");
                }

                await ReplayRunner.RunAsync(options, workload, count, console, parse.GetValue(output), jsonPath, !parse.GetValue(noPlots), cancellationToken);
                return 0;
            }
            catch (TraceFormatException badTrace)
            {
                Console.Error.WriteLine($"dynamo replay: bad trace: {badTrace.Message}");
                return 1;
            }
            catch (InvalidOperationException badPolicy) when (replayPlanner is not null)
            {
                // A decision the simulated cluster cannot carry out (no worker left to route to).
                Console.Error.WriteLine($"dynamo replay: {badPolicy.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>The workload flags' first problem, or null.</summary>
    internal static string? ValidateWorkload(string? tracePath, string? isl, string? osl, double? rate, int? requests, double speedup)
    {
        if (tracePath is not null && !File.Exists(tracePath))
        {
            return $"--trace: file not found: {tracePath}";
        }

        if (tracePath is null && (isl is null || osl is null || rate is null || requests is null))
        {
            return "give --trace FILE, --workload conversation|agentic, or --isl, --osl, --rate and --requests for a synthetic workload.";
        }

        if (rate is { } r && !(r > 0 && double.IsFinite(r)))
        {
            return $"--rate must be a number > 0 requests/s (got {r}).";
        }

        if (requests is { } n && n < 1)
        {
            return $"--requests must be at least 1 (got {n}).";
        }

        if (!(speedup > 0))
        {
            return $"--speedup must be > 0 (got {speedup}).";
        }

        foreach ((string flag, string? text) in new[] { ("--isl", isl), ("--osl", osl) })
        {
            if (text is not null)
            {
                try
                {
                    Dynamo.Bench.Workload.LengthDistribution.Parse(text, flag);
                }
                catch (FormatException error)
                {
                    return error.Message;
                }
            }
        }

        return null;
    }
}
