using System.Globalization;
using Dynamo.Bench.Load;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Workload;
using Dynamo.Planner.Profiles;

namespace Dynamo.Cli.Profiling;

/// <summary>What <c>dynamo profile --url</c> measures and how.</summary>
internal sealed record MeasuredProfileArguments
{
    public required Uri Url { get; init; }

    public string? Model { get; init; }

    public required ProfileGrid Grid { get; init; }

    /// <summary>Output tokens of each decode request.</summary>
    public int Osl { get; init; } = 64;

    /// <summary>Requests per grid point (closed loop); null with <see cref="DurationPerPoint"/>.</summary>
    public int? RequestsPerPoint { get; init; }

    /// <summary>Seconds per grid point; null with <see cref="RequestsPerPoint"/>.</summary>
    public double? DurationPerPoint { get; init; }

    /// <summary>Workers behind the endpoint of the role measured; loads and throughputs are divided among them.</summary>
    public int Workers { get; init; } = 1;

    public int GpusPerWorker { get; init; } = 1;

    public required long KvBlocks { get; init; }

    public int BlockSize { get; init; } = 16;

    public double TimeoutS { get; init; } = 600;

    public string? Hardware { get; init; }

    /// <summary>
    /// First seed of the synthetic prompts (each point takes the next). Null draws one, so a second run against
    /// the same server does not find the first run's prompts in its prefix cache.
    /// </summary>
    public int? Seed { get; init; }
}

/// <summary>
/// <c>dynamo profile --url URL</c>: drives a running OpenAI-compatible endpoint with the bench load generator
/// (closed loop, distinct synthetic prompts so no point hits the prefix cache of another) and records what it saw:
/// <list type="bullet">
/// <item>prefill, per ISL: TTFT = mean TTFT of requests sent one at a time with one output token; throughput = prompt
/// tokens per second with the grid's largest concurrency (per worker) in flight, one output token each;</item>
/// <item>decode, per concurrency × context: that many requests per worker in flight with prompts of the context
/// length and <see cref="MeasuredProfileArguments.Osl"/> output tokens; ITL = mean of the requests' ITL, throughput
/// = output tokens per second. The context recorded is prompt + OSL/2, the mean context while decoding.</item>
/// </list>
/// Throughputs are divided by workers × GPUs per worker.
/// </summary>
internal static class MeasuredProfiler
{
    public static async Task<DeploymentProfile> RunAsync(MeasuredProfileArguments args, TextWriter log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(log);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue }) { Timeout = Timeout.InfiniteTimeSpan };
        string model = args.Model ?? (await OpenAiStreamClient.DescribeModelAsync(http, args.Url, wanted: null, cancellationToken).ConfigureAwait(false)).Name;
        var client = new OpenAiStreamClient(http, args.Url, model);
        var prompts = new PromptSynthesizer();
        ProfileGrid grid = args.Grid;
        // Only 16 bits of a seed make the prompts' block ids: keep the run's points inside that range.
        int seed = args.Seed ?? Random.Shared.Next(1, 60_000);
        int firstSeed = seed;
        double divisor = args.Workers * (double)args.GpusPerWorker;

        async Task<BenchSummary> Point(string what, int isl, int osl, int inFlight)
        {
            int? requests = args.RequestsPerPoint is { } n ? Math.Max(n, inFlight) : null;
            var load = new LoadGenerator(new LoadOptions
            {
                Concurrency = inFlight,
                Duration = args.DurationPerPoint is { } d ? TimeSpan.FromSeconds(d) : null,
                RequestTimeout = TimeSpan.FromSeconds(args.TimeoutS),
            });
            var timeout = TimeSpan.FromSeconds(args.TimeoutS);
            IEnumerable<BenchRequest> workload = WorkloadBuilder.Synthetic(LengthDistribution.Fixed(isl), LengthDistribution.Fixed(osl), ArrivalProcess.Poisson, rate: null, requests, seed++);
            IReadOnlyList<RequestResult> results = await load.RunAsync(
                workload,
                (request, start, measured, ct) => client.SendAsync(request, prompts.Tokens(request), start, measured, timeout, ct),
                requests,
                progress: null,
                cancellationToken).ConfigureAwait(false);
            BenchSummary summary = MetricsAggregator.Summarize(results);
            if (summary.Requests == 0)
            {
                RequestResult? failed = results.FirstOrDefault(r => !r.Succeeded);
                throw new ProfilePointFailedException($"{what}: all {results.Count} requests failed ({failed?.Error}: {failed?.ErrorMessage})");
            }

            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {what}: {summary.Requests} requests, TTFT {summary.TtftMs.Mean:0.#} ms, ITL {summary.ItlMs.Mean:0.##} ms, {summary.InputTokensPerS:0} prompt tok/s, {summary.OutputTokensPerS:0} output tok/s{(summary.Errors > 0 ? $", {summary.Errors} errors" : "")}"));
            if (summary.KvHitRate is > 0.05 and var hit)
            {
                // Cached prompts prefill faster than the profile should say: a run with the same --seed went before.
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  warning: {hit:P0} of the prompt tokens came from the server's prefix cache; run again with another --seed (or none) for uncached figures"));
            }
            return summary;
        }

        // The first requests of a fresh server pay for JIT and allocation: keep them out of the first point.
        await Point("warm-up", grid.Isl[0], 2, 1).ConfigureAwait(false);
        log.WriteLine($"dynamo profile {args.Url} ({model}), prompts from seed {firstSeed}: prefill over ISL {string.Join(",", grid.Isl)}");
        int saturating = grid.Concurrency[^1] * args.Workers;
        var ttft = new double[grid.Isl.Length];
        var prefillThroughput = new double[grid.Isl.Length];
        for (int i = 0; i < grid.Isl.Length; i++)
        {
            ttft[i] = (await Point($"prefill ISL {grid.Isl[i]} alone", grid.Isl[i], 1, 1).ConfigureAwait(false)).TtftMs.Mean;
            BenchSummary busy = await Point($"prefill ISL {grid.Isl[i]} x{saturating}", grid.Isl[i], 1, saturating).ConfigureAwait(false);
            prefillThroughput[i] = busy.InputTokensPerS / divisor;
        }

        log.WriteLine($"decode over concurrency {string.Join(",", grid.Concurrency)} x context {string.Join(",", grid.Context)} (OSL {args.Osl})");
        var itl = new double[grid.Concurrency.Length][];
        var decodeThroughput = new double[grid.Concurrency.Length][];
        for (int c = 0; c < grid.Concurrency.Length; c++)
        {
            itl[c] = new double[grid.Context.Length];
            decodeThroughput[c] = new double[grid.Context.Length];
            for (int k = 0; k < grid.Context.Length; k++)
            {
                BenchSummary point = await Point($"decode x{grid.Concurrency[c]} context {grid.Context[k]}", grid.Context[k], args.Osl, grid.Concurrency[c] * args.Workers).ConfigureAwait(false);
                itl[c][k] = point.ItlMs.Mean;
                decodeThroughput[c][k] = point.OutputTokensPerS / divisor;
            }
        }

        return new DeploymentProfile
        {
            Model = model,
            Hardware = args.Hardware ?? $"{Environment.ProcessorCount} CPU cores ({Environment.MachineName})",
            Source = ProfileSource.Measured,
            Description = string.Create(CultureInfo.InvariantCulture,
                $"dynamo profile --url {args.Url}: {args.Workers} worker(s) × {args.GpusPerWorker} GPU(s), {(args.RequestsPerPoint is { } r ? $"{r} requests" : $"{args.DurationPerPoint} s")} per point, decode OSL {args.Osl}"),
            Prefill = new PrefillProfile(args.GpusPerWorker, [.. grid.Isl.Select(x => (double)x)], ttft, prefillThroughput),
            Decode = new DecodeProfile(args.GpusPerWorker, [.. grid.Concurrency.Select(x => (double)x)], [.. grid.Context.Select(x => x + (args.Osl / 2.0))], itl, decodeThroughput),
            Kv = new KvCapacity(args.BlockSize, args.KvBlocks),
        };
    }
}

/// <summary>Every request of a grid point failed: the endpoint is up but cannot serve that point.</summary>
internal sealed class ProfilePointFailedException(string message) : Exception(message);
