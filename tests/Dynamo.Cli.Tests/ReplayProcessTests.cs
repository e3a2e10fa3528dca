using System.Text.Json.Nodes;

namespace Dynamo.Cli.Tests;

/// <summary>
/// <c>dynamo replay</c> as a process: a synthetic and a trace workload through the simulated cluster (virtual time,
/// so a few hundred milliseconds), the files and JSON it writes, and its usage errors (exit code 1).
/// </summary>
public sealed class ReplayProcessTests : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-replay-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Replay_SyntheticDisagg_WritesReportFilesAndJsonToStdout_Exits0()
    {
        var outDir = Path.Combine(_dir, "out");
        var result = await CliRun.RunAsync(
            ["replay", "--isl", "3000", "--osl", "8", "--rate", "20", "--requests", "20", "--mode", "disagg", "--prefill-workers", "1",
             "--decode-workers", "2", "--router", "least-loaded", "--profile", "h100-8b", "--out", outDir, "--json", "-", "--no-plots", "--seed", "3"],
            Budget);

        Assert.True(result.ExitCode == 0, result.ToString());
        var json = JsonNode.Parse(result.Stdout)!.AsObject();
        Assert.Equal(("replay", "disagg", "least-loaded", "h100-8b"), ((string?)json["tool"], (string?)json["mode"], (string?)json["router"], (string?)json["profile"]));
        Assert.Equal((20, 0, 3, 1, 2, 3), ((int)json["requests"]!, (int)json["errors"]!, (int)json["workers"]!, (int)json["prefill_workers"]!, (int)json["decode_workers"]!, (int)json["seed"]!));
        Assert.True((double)json["ttft_ms"]!["p50"]! > 0, "ttft p50");
        Assert.Equal(20 * 7, (long)json["itl_token_ms"]!["count"]!); // 8 tokens a request: 7 gaps each, beside itl_ms's one mean a request
        Assert.True((double)json["itl_token_ms"]!["p90"]! > 0, "itl_token_ms p90");
        Assert.Equal(20, (long)json["itl_ms"]!["count"]!);
        Assert.Equal("token_p90", (string?)json["slo"]!["itl_metric"]);
        Assert.True((double)json["output_tokens_per_s"]! > 0, "throughput");
        Assert.Contains("TTFT", result.Stderr); // the table goes to stderr when the JSON takes stdout

        foreach (var file in new[] { "summary.json", "summary.csv", "requests.csv", "workers.csv", "kv_usage.csv" })
        {
            Assert.True(new FileInfo(Path.Combine(outDir, file)).Length > 0, file);
        }

        Assert.Empty(Directory.GetFiles(outDir, "*.png")); // --no-plots
        Assert.Equal(21, File.ReadAllLines(Path.Combine(outDir, "requests.csv")).Count(l => l.Length > 0)); // header + one per request
        Assert.Equal(20, (int)JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "summary.json")))!["requests"]!);
    }

    [Fact]
    public async Task Replay_MooncakeTrace_ReplaysEveryLine_AndSharedPrefixesHitTheCache()
    {
        var trace = Path.Combine(_dir, "trace.jsonl");
        await File.WriteAllLinesAsync(trace, Enumerable.Range(0, 12)
            .Select(i => $"{{\"timestamp\": {i * 100}, \"input_length\": 1024, \"output_length\": 4, \"hash_ids\": [1, {10 + i}]}}"));
        var jsonFile = Path.Combine(_dir, "summary.json");

        var result = await CliRun.RunAsync(["replay", "--trace", trace, "--workers", "2", "--router", "kv", "--json", jsonFile], Budget);

        Assert.True(result.ExitCode == 0, result.ToString());
        var json = JsonNode.Parse(await File.ReadAllTextAsync(jsonFile))!;
        Assert.Equal(12, (int)json["requests"]!);
        Assert.True((double?)json["kv_hit_rate"] > 0.3, $"the 512 tokens every prompt shares should be cached: {json["kv_hit_rate"]}");
    }

    [Theory]
    [InlineData(new[] { "--router", "bogus" }, "'bogus'")]
    [InlineData(new[] { "--mode", "sideways" }, "'sideways'")]
    [InlineData(new[] { "--profile", "nope" }, "'nope'")]
    [InlineData(new[] { "--kv-blocks", "0" }, "--kv-blocks")]
    [InlineData(new[] { "--isl", "x7" }, "'x7'")]
    [InlineData(new[] { "--rate", "fast" }, "'fast'")]
    [InlineData(new[] { "--requests", "0" }, "--requests")]
    [InlineData(new[] { "--slo-itl-metric", "p95" }, "--slo-itl-metric must be token_p90 or request_mean (got 'p95')")]
    public async Task Replay_BadFlagValue_Exits1NamingIt(string[] flags, string mention)
    {
        // A complete synthetic workload in which the flag under test takes the bad value.
        var args = new List<string> { "replay" };
        foreach (var (flag, value) in new[] { ("--isl", "100"), ("--osl", "4"), ("--rate", "10"), ("--requests", "5") })
        {
            if (flag != flags[0])
            {
                args.AddRange([flag, value]);
            }
        }

        var result = await CliRun.RunAsync([.. args, .. flags], Budget);

        CliRun.AssertUsageError(result, 1, mention);
    }

    [Fact]
    public async Task Replay_ConversationWorkload_ReportsBalanceFigures_ExportedTraceReplaysTheSame()
    {
        var export = Path.Combine(_dir, "conversation.jsonl");
        var first = await CliRun.RunAsync(
            ["replay", "--workload", "conversation", "--sessions", "30", "--rate", "3", "--workers", "3", "--router", "kv", "--seed", "5",
             "--export-trace", export, "--json", "-", "--no-plots"],
            Budget);

        Assert.True(first.ExitCode == 0, first.ToString());
        var json = JsonNode.Parse(first.Stdout)!;
        int requests = (int)json["requests"]!;
        Assert.Equal(requests, File.ReadAllLines(export).Length);
        Assert.True(requests > 30, $"{requests} requests from 30 sessions");
        double lru = (double)json["cluster_lru_hit_rate"]!, spread = (double)json["worker_busy_max_over_mean"]!;
        Assert.InRange(lru, 0.3, 1); // the system prompt and every earlier turn
        Assert.InRange(spread, 1, 3); // 1 (even) to 3 (all on one of three)
        Assert.Contains("cluster-wide", first.Stderr); // the table's rows (wrapped to the console's width)
        Assert.Contains("÷", first.Stderr);

        // The exported trace is the same workload: same requests, same prefix blocks, same simulation.
        var again = await CliRun.RunAsync(["replay", "--trace", export, "--workers", "3", "--router", "kv", "--seed", "5", "--json", "-", "--no-plots"], Budget);
        Assert.True(again.ExitCode == 0, again.ToString());
        var replayed = JsonNode.Parse(again.Stdout)!;
        Assert.Equal(requests, (int)replayed["requests"]!);
        Assert.Equal(lru, (double)replayed["cluster_lru_hit_rate"]!, 12);
        Assert.Equal((double)json["kv_hit_rate"]!, (double)replayed["kv_hit_rate"]!, 12);
    }

    [Theory]
    [InlineData(new[] { "--workload", "chat" }, "'chat'")]
    [InlineData(new[] { "--workload", "conversation", "--trace", "trace.jsonl" }, "--trace")]
    [InlineData(new[] { "--workload", "conversation", "--isl", "100" }, "--isl")]
    [InlineData(new[] { "--workload", "conversation", "--speedup", "2" }, "--speedup")]
    [InlineData(new[] { "--workload", "conversation", "--sessions", "0" }, "--sessions")]
    [InlineData(new[] { "--workload", "conversation", "--turns", "pareto:0:1" }, "--turns")]
    [InlineData(new[] { "--workload", "conversation", "--arrival", "trace" }, "--arrival")]
    [InlineData(new[] { "--workload", "agentic", "--document-share", "0.5" }, "--documents")]
    [InlineData(new[] { "--workload", "conversation", "--document-zipf", "-1" }, "--document-zipf")]
    [InlineData(new[] { "--max-turns", "5", "--trace", "trace.jsonl" }, "--workload")]
    public async Task Replay_BadWorkloadFlags_Exit1NamingThem(string[] flags, string mention)
    {
        var result = await CliRun.RunAsync(["replay", .. flags], Budget);

        CliRun.AssertUsageError(result, 1, mention);
    }

    [Fact]
    public async Task Replay_NoWorkload_Exits1SayingWhatToGive()
    {
        var result = await CliRun.RunAsync(["replay", "--isl", "100"], Budget);

        CliRun.AssertUsageError(result, 1, "--trace", "--requests");
    }

    [Fact]
    public async Task Replay_BadTrace_Exits1NamingFileAndLine()
    {
        var trace = Path.Combine(_dir, "bad.jsonl");
        await File.WriteAllLinesAsync(trace, ["{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2}", "{not json"]);
        var missing = Path.Combine(_dir, "missing.jsonl");

        var bad = await CliRun.RunAsync(["replay", "--trace", trace], Budget);
        var absent = await CliRun.RunAsync(["replay", "--trace", missing], Budget);

        CliRun.AssertUsageError(bad, 1, "bad.jsonl", "2");
        CliRun.AssertUsageError(absent, 1, missing);
    }
}
