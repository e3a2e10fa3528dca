using System.CommandLine;
using Dynamo.Bench.Load;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Reports;
using Dynamo.Bench.Traces;
using Spectre.Console;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo bench --url URL [--trace FILE | --isl N --osl N | --workload conversation|agentic] [--rate R | --concurrency C] ...</c>: load against
/// any OpenAI-compatible endpoint. Exit codes: 0 done, 1 bad arguments or unreadable trace, 3 the server could not
/// be reached to start.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var url = new Option<string>("--url") { Description = "Base address of the OpenAI-compatible server (http://host:port or .../v1).", Required = true };
        var model = new Option<string?>("--model") { Description = "Model name to send (default: the first one /v1/models lists)." };
        var trace = new Option<string?>("--trace") { Description = "Trace file: Mooncake .jsonl or Azure .csv (lengths, arrival times, prefix blocks)." };
        var isl = new Option<string?>("--isl") { Description = "Input length: N, uniform:MIN:MAX, normal:MEAN:SD or lognormal:MEDIAN:SIGMA." };
        var osl = new Option<string?>("--osl") { Description = "Output length, same forms as --isl." };
        var rate = new Option<double?>("--rate") { Description = "Open loop: requests per second." };
        var arrival = new Option<string?>("--arrival") { Description = "poisson (default with --rate), constant, or trace (default with --trace and no --rate)." };
        var concurrency = new Option<int?>("--concurrency") { Description = "Closed loop: requests in flight." };
        var requests = new Option<int?>("--requests") { Description = "Requests to send (default: the whole trace)." };
        var duration = new Option<double?>("--duration") { Description = "Stop issuing after this many seconds past the warm-up." };
        var warmup = new Option<double>("--warmup") { Description = "Seconds of warm-up whose requests are not counted (default 0).", DefaultValueFactory = _ => 0 };
        var speedup = new Option<double>("--speedup") { Description = "Divide the trace's timestamps by this (default 1).", DefaultValueFactory = _ => 1 };
        var output = new Option<string?>("--out") { Description = "Folder for summary.json, summary.csv, requests.csv and PNG plots." };
        var json = new Option<string?>("--json") { Description = "Write the JSON summary to FILE, or - for standard output (the table then goes to standard error)." };
        var ttft = new Option<double?>("--slo-ttft-ms") { Description = "TTFT target for goodput, ms." };
        var itl = new Option<double?>("--slo-itl-ms") { Description = "ITL target for goodput, ms." };
        var e2e = new Option<double?>("--slo-e2e-ms") { Description = "End-to-end target for goodput, ms." };
        var itlMetric = new Option<string?>("--slo-itl-metric") { Description = "What the ITL target is judged on: token_p90 (default: the 90th percentile of the request's gaps between streamed tokens) or request_mean (its mean gap)." };
        var sortTrace = new Option<bool>(TraceReader.SortFlag) { Description = "Sort a trace whose timestamps go backwards (with a warning) instead of refusing it." };
        var seed = new Option<int>("--seed") { Description = "Seed of lengths, arrivals and synthetic prompts (default 0).", DefaultValueFactory = _ => 0 };
        var timeout = new Option<double>("--timeout") { Description = "Per-request limit, seconds (default 600).", DefaultValueFactory = _ => 600 };
        var vocab = new Option<int>("--vocab-size") { Description = "Synthetic token ids are below this (default 32000).", DefaultValueFactory = _ => 32000 };
        var noPlots = new Option<bool>("--no-plots") { Description = "Skip the PNG plots." };
        var profileTable = new Option<string?>("--profile-table") { Description = "Write a measured table (prefill TTFT, decode ITL) for replay's --profile fit:FILE." };
        var exportTrace = new Option<string?>("--export-trace") { Description = "Write the workload as a Mooncake JSONL trace (timestamp, input_length, output_length, hash_ids) to FILE before sending it." };
        var sessions = new WorkloadFlags();

        var command = new Command("bench", "Load-test an OpenAI-compatible endpoint: TTFT, ITL, latency, throughput and goodput percentiles.")
        {
            url, model, trace, isl, osl, rate, arrival, concurrency, requests, duration, warmup, speedup, output, json, ttft, itl, e2e, itlMetric, sortTrace, seed, timeout, vocab, noPlots, profileTable, exportTrace,
        };
        sessions.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!Uri.TryCreate(parse.GetValue(url), UriKind.Absolute, out Uri? address))
            {
                Console.Error.WriteLine($"dynamo bench: --url '{parse.GetValue(url)}' is not an absolute address (e.g. http://127.0.0.1:8000).");
                return 1;
            }

            (Dynamo.Bench.Workload.SessionWorkloadOptions? workload, string? workloadError) = sessions.Parse(
                parse, parse.GetValue(rate), parse.GetValue(arrival), parse.GetValue(requests), parse.GetValue(osl), parse.GetValue(seed),
                [(speedup, "--speedup applies to --trace; with --workload set the pace with --rate (new sessions per second).")]);
            if (workloadError is not null)
            {
                Console.Error.WriteLine($"dynamo bench: {workloadError}");
                return 1;
            }

            var args = new BenchArguments
            {
                Url = address,
                Model = parse.GetValue(model),
                TracePath = parse.GetValue(trace),
                SortTrace = parse.GetValue(sortTrace),
                Warn = warning => Console.Error.WriteLine($"dynamo bench: warning: {warning}"),
                Isl = parse.GetValue(isl),
                Osl = workload is null ? parse.GetValue(osl) : null,
                Rate = workload?.Rate ?? parse.GetValue(rate),
                Arrival = parse.GetValue(arrival),
                Concurrency = parse.GetValue(concurrency),
                Requests = parse.GetValue(requests),
                DurationS = parse.GetValue(duration),
                WarmupS = parse.GetValue(warmup),
                TraceSpeedup = parse.GetValue(speedup),
                OutDir = parse.GetValue(output),
                JsonPath = parse.GetValue(json),
                Slo = new SloTargets { TtftMs = parse.GetValue(ttft), ItlMs = parse.GetValue(itl), ItlMetric = parse.GetValue(itlMetric) ?? ItlMetrics.Default, E2eMs = parse.GetValue(e2e) },
                Seed = parse.GetValue(seed),
                TimeoutS = parse.GetValue(timeout),
                VocabSize = parse.GetValue(vocab),
                NoPlots = parse.GetValue(noPlots),
                ProfileTablePath = parse.GetValue(profileTable),
                Sessions = workload,
                ExportTracePath = parse.GetValue(exportTrace),
            };
            return await RunAsync(args, cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(BenchArguments args, CancellationToken cancellationToken)
    {
        if (args.FirstError() is { } error)
        {
            Console.Error.WriteLine($"dynamo bench: {error}");
            return 1;
        }

        IAnsiConsole console = args.JsonPath == "-" ? ConsoleReport.StandardError() : AnsiConsole.Console;
        try
        {
            BenchOutcome outcome = await BenchRunner.RunAsync(args, console, cancellationToken: cancellationToken);
            return outcome.Summary.Requests == 0 && outcome.Summary.Errors > 0 ? 4 : 0;
        }
        catch (TraceFormatException trace)
        {
            Console.Error.WriteLine($"dynamo bench: bad trace: {trace.Message}");
            return 1;
        }
        catch (HttpRequestException unreachable)
        {
            Console.Error.WriteLine($"dynamo bench: cannot reach {args.Url}: {unreachable.Message}");
            return 3;
        }
    }
}
