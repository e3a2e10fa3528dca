using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Engine.Model;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Cli.Tests;

/// <summary>
/// <c>dynamo bench</c> as a process against a real embedded cluster (gateway + mocker workers on loopback ports):
/// its files and JSON, and its documented exit codes: 1 bad arguments, 3 server unreachable, 4 every request failed.
/// </summary>
public sealed class BenchProcessTests : IAsyncLifetime
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-bench-").FullName;
    private EmbeddedCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        var model = Path.Combine(_dir, "model");
        await ModelWriter.WriteAsync(model, ModelPreset.Tiny, seed: 0);
        var settings = ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:Port"] = "0",
            ["Dynamo:Serve:Engine"] = "mocker",
            ["Dynamo:Serve:Model"] = model,
            ["Dynamo:Serve:ServedModelName"] = "tiny",
            ["Dynamo:Serve:Mode"] = "agg",
            ["Dynamo:Serve:Workers"] = "1",
            ["Dynamo:Mocker:ZeroDelay"] = "true",
        }));
        _cluster = await EmbeddedCluster.StartAsync(settings, NullLoggerFactory.Instance);
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Bench_Synthetic_WritesReportFilesAndJsonToStdout_Exits0()
    {
        var outDir = Path.Combine(_dir, "out");
        var table = Path.Combine(_dir, "profile.csv");

        var result = await CliRun.RunAsync(
            ["bench", "--url", _cluster.Address.ToString(), "--isl", "32", "--osl", "4", "--concurrency", "2", "--requests", "8",
             "--out", outDir, "--json", "-", "--no-plots", "--slo-ttft-ms", "60000", "--profile-table", table],
            Budget);

        Assert.True(result.ExitCode == 0, result.ToString());
        var json = JsonNode.Parse(result.Stdout)!.AsObject();
        Assert.Equal(("bench", "tiny"), ((string?)json["tool"], (string?)json["model"]));
        Assert.Equal((8, 0), ((int)json["requests"]!, (int)json["errors"]!));
        foreach (var key in new[] { "duration_s", "ttft_ms", "itl_ms", "e2e_ms", "output_tokens_per_s", "requests_per_s", "goodput_requests_per_s", "kv_hit_rate" })
        {
            Assert.True(json.ContainsKey(key), key);
        }

        Assert.Equal((double)json["requests_per_s"]!, (double)json["goodput_requests_per_s"]!, 6); // every request within a 60 s TTFT
        Assert.Contains("TTFT", result.Stderr); // the table goes to stderr when the JSON takes stdout
        foreach (var file in new[] { "summary.json", "summary.csv", "requests.csv" })
        {
            Assert.True(new FileInfo(Path.Combine(outDir, file)).Length > 0, file);
        }

        Assert.Empty(Directory.GetFiles(outDir, "*.png")); // --no-plots
        Assert.Equal(9, File.ReadAllLines(Path.Combine(outDir, "requests.csv")).Count(l => l.Length > 0));
        Assert.True(new FileInfo(table).Length > 0, "--profile-table");
    }

    [Fact]
    public async Task Bench_AgenticWorkload_SendsEveryTurn_SharedToolPromptHits_ExportsTheTrace()
    {
        var export = Path.Combine(_dir, "agentic.jsonl");

        var result = await CliRun.RunAsync(
            ["bench", "--url", _cluster.Address.ToString(), "--workload", "agentic", "--sessions", "2", "--turns", "3", "--max-turns", "3",
             "--system-prompt-tokens", "600", "--turn-tokens", "50", "--osl", "4", "--think-ms", "1", "--rate", "10", "--seed", "11",
             "--export-trace", export, "--json", "-"],
            Budget);

        Assert.True(result.ExitCode == 0, result.ToString());
        var json = JsonNode.Parse(result.Stdout)!.AsObject();
        Assert.Equal((6, 0), ((int)json["requests"]!, (int)json["errors"]!)); // 2 sessions × 3 turns
        Assert.Contains("agentic workload, 10 sessions/s", (string?)json["load"]);
        Assert.True((double?)json["kv_hit_rate"] > 0, $"the 512-token tool prompt every turn starts with should hit: {json["kv_hit_rate"]}");
        var lines = File.ReadAllLines(export).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(6, lines.Count);
        Assert.Single(lines.Select(l => (long)l["hash_ids"]![0]!).Distinct()); // the same first block everywhere
        Assert.All(lines, l => Assert.Equal(4, (int)l["output_length"]!));
    }

    [Fact]
    public async Task Bench_PromptsLongerThanTheModelsContext_WarnBeforeTheRun()
    {
        // /v1/models says the context (vLLM's max_model_len); the agentic workload's default 6,000-token tool prompt
        // does not fit the tiny model's.
        using var http = new HttpClient();
        var models = JsonNode.Parse(await http.GetStringAsync(new Uri(_cluster.Address, "v1/models")))!;
        var context = (int)models["data"]![0]!["max_model_len"]!;
        Assert.InRange(context, 1, 5999);

        var result = await CliRun.RunAsync(
            ["bench", "--url", _cluster.Address.ToString(), "--workload", "agentic", "--sessions", "1", "--turns", "1", "--max-turns", "1",
             "--osl", "2", "--rate", "10", "--json", "-"],
            Budget);

        // The console wraps long lines at its width.
        var stderr = System.Text.RegularExpressions.Regex.Replace(result.Stderr, @"\s+", " ");
        Assert.Contains($"warning: 1 of 1 requests of this workload have prompts of at least the {context:N0}-token context of model 'tiny'", stderr);
        Assert.Equal(1, (int)JsonNode.Parse(result.Stdout)!["errors"]!);
    }

    [Theory]
    [InlineData(new[] { "--workload", "agentic", "--concurrency", "2" }, "--concurrency")]
    [InlineData(new[] { "--workload", "agentic", "--isl", "100" }, "--isl")]
    [InlineData(new[] { "--workload", "agentic", "--speedup", "2" }, "--speedup")]
    [InlineData(new[] { "--workload", "chat" }, "'chat'")]
    [InlineData(new[] { "--think-ms", "5" }, "--workload")]
    public async Task Bench_BadWorkloadFlags_Exit1NamingThem(string[] flags, string mention)
    {
        var result = await CliRun.RunAsync(["bench", "--url", _cluster.Address.ToString(), "--sessions", "1", .. flags], Budget);

        CliRun.AssertUsageError(result, 1, mention);
    }

    [Theory]
    [InlineData(new[] { "--isl", "lots" }, "'lots'")]
    [InlineData(new[] { "--rate", "-3" }, "-3")]
    [InlineData(new[] { "--concurrency", "two" }, "'two'")]
    [InlineData(new[] { "--concurrency", "0" }, "--concurrency")]
    [InlineData(new[] { "--url", "not-a-url" }, "'not-a-url'")]
    [InlineData(new[] { "--url", "ftp://127.0.0.1/" }, "ftp://127.0.0.1/")]
    [InlineData(new[] { "--trace", "/nonexistent/trace.jsonl" }, "/nonexistent/trace.jsonl")]
    public async Task Bench_BadFlagValue_Exits1NamingIt(string[] flags, string mention)
    {
        // A complete synthetic run in which the flag under test takes the bad value (a trace replaces --isl/--osl).
        var args = new List<string> { "bench" };
        foreach (var (flag, value) in new[] { ("--url", _cluster.Address.ToString()), ("--isl", "8"), ("--osl", "2"), ("--concurrency", "1"), ("--requests", "2") })
        {
            if (flag != flags[0] && !(flags[0] == "--trace" && flag is "--isl" or "--osl") && !(flags[0] == "--rate" && flag == "--concurrency"))
            {
                args.AddRange([flag, value]);
            }
        }

        var result = await CliRun.RunAsync([.. args, .. flags], Budget);

        CliRun.AssertUsageError(result, 1, mention);
    }

    [Fact]
    public async Task Bench_NothingListening_Exits3()
    {
        // A loopback port bound by this test and never listened on: connections to it are refused.
        using var closed = new Socket(SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)closed.LocalEndPoint!).Port;

        var result = await CliRun.RunAsync(["bench", "--url", $"http://127.0.0.1:{port}", "--isl", "8", "--osl", "2", "--concurrency", "1", "--requests", "2"], Budget);

        CliRun.AssertUsageError(result, 3, "cannot reach");
    }

    [Fact]
    public async Task Bench_EveryRequestFails_Exits4()
    {
        var result = await CliRun.RunAsync(
            ["bench", "--url", _cluster.Address.ToString(), "--model", "no-such-model", "--isl", "8", "--osl", "2", "--concurrency", "1", "--requests", "3", "--json", "-"],
            Budget);

        Assert.True(result.ExitCode == 4, result.ToString());
        var json = JsonNode.Parse(result.Stdout)!;
        Assert.Equal((0, 3), ((int)json["requests"]!, (int)json["errors"]!));
    }
}
