using System.Globalization;
using System.Text.Json.Nodes;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Reports;
using Dynamo.Bench.Traces;
using Dynamo.Bench.Workload;
using Spectre.Console;

namespace Dynamo.Bench.Load;

/// <summary><c>dynamo bench</c>: load against a live OpenAI-compatible endpoint, with a progress bar, the table and the report files.</summary>
public static class BenchRunner
{
    /// <summary>The request sequence and, when known, its length.</summary>
    /// <exception cref="TraceFormatException">The trace cannot be read; the message names the file and line.</exception>
    public static (IEnumerable<BenchRequest> Workload, int? Count) BuildWorkload(BenchArguments args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Sessions is { } sessions)
        {
            return (ConversationWorkload.Generate(sessions), ConversationWorkload.CountRequests(sessions));
        }

        return BuildWorkload(args.TracePath, args.Isl, args.Osl, args.Arrival, args.Rate, args.TraceSpeedup, args.Requests, args.Seed, args.SortTrace, args.Warn);
    }

    /// <inheritdoc cref="BuildWorkload(BenchArguments)"/>
    /// <param name="sortTrace">Sort a trace whose timestamps go backwards instead of refusing it (<see cref="TraceReader.Read"/>).</param>
    /// <param name="warn">Told, once, when the trace was sorted.</param>
    public static (IEnumerable<BenchRequest> Workload, int? Count) BuildWorkload(string? tracePath, string? isl, string? osl, string? arrivalName, double? rate, double speedup, int? requests, int seed, bool sortTrace = false, Action<string>? warn = null)
    {
        ArrivalProcess arrival = arrivalName is { } a ? BenchArguments.ParseArrival(a)!.Value : (tracePath is not null && rate is null ? ArrivalProcess.Trace : ArrivalProcess.Poisson);
        if (tracePath is { } path)
        {
            IReadOnlyList<TraceRecord> trace = TraceReader.Read(path, sortTrace, warn);
            int count = Math.Min(trace.Count, requests ?? int.MaxValue);
            return (WorkloadBuilder.FromTrace(trace, arrival, rate, speedup, requests, seed), count);
        }

        var inputs = LengthDistribution.Parse(isl!, "--isl");
        var outputs = LengthDistribution.Parse(osl!, "--osl");
        return (WorkloadBuilder.Synthetic(inputs, outputs, arrival, rate, requests, seed), requests);
    }

    /// <summary>Requests whose prompt alone fills a context of <paramref name="context"/> tokens, and the longest prompt.</summary>
    internal static (int Count, int Longest) TooLong(IEnumerable<BenchRequest> workload, int context)
    {
        int count = 0;
        int longest = 0;
        foreach (BenchRequest request in workload)
        {
            longest = Math.Max(longest, request.InputLength);
            if (request.InputLength >= context)
            {
                count++;
            }
        }

        return (count, longest);
    }

    public static async Task<BenchOutcome> RunAsync(BenchArguments args, IAnsiConsole console, HttpMessageHandler? handler = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(console);
        if (args.FirstError() is { } error)
        {
            throw new ArgumentException(error);
        }

        (IEnumerable<BenchRequest> workload, int? count) = BuildWorkload(args);
        if (args.ExportTracePath is { } export)
        {
            TraceWriter.Write(export, workload, cancellationToken);
            console.MarkupLine($"[grey]wrote the workload to {Markup.Escape(export)}[/]");
        }

        using var http = new HttpClient(handler ?? new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, PooledConnectionLifetime = TimeSpan.FromMinutes(10) }, disposeHandler: handler is null)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        (string model, int? context) = await OpenAiStreamClient.DescribeModelAsync(http, args.Url, args.Model, cancellationToken).ConfigureAwait(false);
        if (context is { } limit && count is not null && TooLong(workload, limit) is { Count: > 0 } tooLong)
        {
            // Say it before the run, not as a column of errors after it: the server will refuse these prompts.
            console.MarkupLine($"[yellow]warning: {tooLong.Count} of {count} requests of this workload have prompts of at least the {limit:N0}-token context of model '{Markup.Escape(model)}' (longest {tooLong.Longest:N0} tokens); the server will refuse them (context_length_exceeded). Shorten the workload (--isl; with --workload: --system-prompt-tokens, --document-tokens, --turn-tokens, --max-turns) or serve a model with a longer context.[/]");
        }

        // The same seed and workload against the same server send the same prompts: a prefix cache may still hold them.
        var history = new BenchHistory(args.HistoryPath);
        string workloadKey = BenchHistory.Workload(args);
        DateTimeOffset? previous = history.LastRun(args.Url, workloadKey);
        if (previous is { } before)
        {
            console.MarkupLine($"[yellow]warning: a bench run against {Markup.Escape(args.Url.ToString())} at {before.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC sent the same prompts (seed {args.Seed}, same workload); unless the server restarted since, its prefix cache may still hold them and this run measures a warm cache. Pass another --seed for new prompts.[/]");
        }

        history.Record(args.Url, workloadKey, DateTimeOffset.UtcNow);
        var client = new OpenAiStreamClient(http, args.Url, model);
        var prompts = new PromptSynthesizer(args.VocabSize);
        var timeout = TimeSpan.FromSeconds(args.TimeoutS);
        var load = new LoadGenerator(new LoadOptions
        {
            Concurrency = args.Concurrency,
            Duration = args.DurationS is { } d ? TimeSpan.FromSeconds(d) : null,
            Warmup = TimeSpan.FromSeconds(args.WarmupS),
            RequestTimeout = timeout,
        });

        Task<RequestResult> Send(BenchRequest request, double startS, bool measured, CancellationToken ct) =>
            client.SendAsync(request, prompts.Tokens(request), startS, measured, timeout, ct);

        IReadOnlyList<RequestResult> results = null!;
        string mode = args.Sessions is { } s ? $"{s.Kind.ToString().ToLowerInvariant()} workload, {s.Rate.ToString(CultureInfo.InvariantCulture)} sessions/s"
            : args.Concurrency is { } c ? $"concurrency {c}" : args.Rate is { } r ? $"{r.ToString(CultureInfo.InvariantCulture)} req/s" : "trace timing";
        string title = $"dynamo bench {args.Url} ({model}, {mode})";
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask("requests", maxValue: count ?? 1);
                task.IsIndeterminate = count is null;
                var progress = new Progress<BenchProgress>(p =>
                {
                    task.Value = count is null ? 0 : p.Completed;
                    task.Description = $"requests {p.Completed}{(count is { } n ? $"/{n}" : "")} ({p.Failed} failed)";
                });
                results = await load.RunAsync(workload, Send, count, progress, cancellationToken).ConfigureAwait(false);
                task.Value = task.MaxValue;
                task.StopTask();
            }).ConfigureAwait(false);

        BenchSummary summary = MetricsAggregator.Summarize(results, args.Slo);
        JsonObject json = JsonReport.ToJson(summary, new Dictionary<string, JsonNode?>
        {
            ["tool"] = "bench",
            ["url"] = args.Url.ToString(),
            ["model"] = model,
            ["load"] = mode,
            ["seed"] = args.Seed,
            ["seed_reused_from"] = previous?.UtcDateTime.ToString("o", CultureInfo.InvariantCulture),
        });
        console.Write(ConsoleReport.Table(summary, title));
        var files = new List<string>();
        if (args.OutDir is { } dir)
        {
            files.AddRange(await ReportWriter.WriteAsync(dir, "bench", json, summary, results, !args.NoPlots, cancellationToken).ConfigureAwait(false));
            console.MarkupLine($"[grey]wrote {Markup.Escape(string.Join(", ", files.Select(Path.GetFileName)))} to {Markup.Escape(dir)}[/]");
        }

        if (args.JsonPath is { } jsonPath)
        {
            await JsonReport.WriteAsync(json, jsonPath, cancellationToken).ConfigureAwait(false);
            if (jsonPath != "-")
            {
                files.Add(jsonPath);
            }
        }

        if (args.ProfileTablePath is { } table)
        {
            await File.WriteAllTextAsync(table, ProfileTable.Build(results), cancellationToken).ConfigureAwait(false);
            files.Add(table);
        }

        foreach (RequestResult failed in results.Where(x => !x.Succeeded).Take(3))
        {
            console.MarkupLine($"[yellow]request {failed.Index}: {Markup.Escape(failed.Error!)}: {Markup.Escape(failed.ErrorMessage ?? "")}[/]");
        }

        return new BenchOutcome(summary, json, results, files);
    }
}
