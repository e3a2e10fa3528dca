using System.Text.Json.Nodes;
using Dynamo.Bench.Load;
using Dynamo.Bench.Metrics;
using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Engine.Model;
using Microsoft.Extensions.Logging.Abstractions;
using Spectre.Console;
using Spectre.Console.Testing;

namespace Dynamo.Bench.Tests;

/// <summary><c>dynamo bench</c> against a real embedded cluster (gateway + mocker workers on loopback ports).</summary>
public sealed class BenchFunctionalTests : IAsyncLifetime
{
    private EmbeddedCluster _cluster = null!;
    private string _dir = null!;

    public async Task InitializeAsync()
    {
        _dir = Path.Combine(Path.GetTempPath(), "dynamo-bench-tests", Guid.NewGuid().ToString("N"));
        string model = Path.Combine(_dir, "model");
        await ModelWriter.WriteAsync(model, ModelPreset.Tiny, seed: 0);
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Dynamo:Gateway:Port"] = "0",
            ["Dynamo:Serve:Engine"] = "mocker",
            ["Dynamo:Serve:Model"] = model,
            ["Dynamo:Serve:ServedModelName"] = "tiny",
            ["Dynamo:Serve:Mode"] = "agg",
            ["Dynamo:Serve:Workers"] = "2",
            ["Dynamo:Router:Mode"] = "least-loaded",
            ["Dynamo:Mocker:SpeedupFactor"] = "5",
        };
        var settings = ClusterSettings.From(DynamoConfiguration.Build(null, values, environment: new Dictionary<string, string?>()));
        _cluster = await EmbeddedCluster.StartAsync(settings, NullLoggerFactory.Instance);
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    /// <summary>This test's own run history (the default is the user's cache folder).</summary>
    private string History => Path.Combine(_dir, "bench-runs.tsv");

    [Fact]
    public async Task Bench_SameSeedAgainstTheSameServer_WarnsOfAWarmCache_AnotherSeedDoesNot()
    {
        BenchArguments Args(int seed) => new()
        {
            Url = _cluster.Address,
            Isl = "64",
            Osl = "2",
            Concurrency = 2,
            Requests = 4,
            Seed = seed,
            HistoryPath = History,
        };

        var first = new TestConsole { EmitAnsiSequences = false };
        var again = new TestConsole { EmitAnsiSequences = false };
        var other = new TestConsole { EmitAnsiSequences = false };
        again.Profile.Width = other.Profile.Width = first.Profile.Width = 400;
        BenchOutcome firstRun = await BenchRunner.RunAsync(Args(11), first);
        BenchOutcome againRun = await BenchRunner.RunAsync(Args(11), again);
        BenchOutcome otherRun = await BenchRunner.RunAsync(Args(12), other);

        Assert.DoesNotContain("warning", first.Output, StringComparison.Ordinal);
        Assert.Null(firstRun.Json["seed_reused_from"]);
        Assert.Contains("warning: a bench run against", again.Output, StringComparison.Ordinal);
        Assert.Contains("sent the same prompts (seed 11, same workload)", again.Output, StringComparison.Ordinal);
        Assert.NotNull(againRun.Json["seed_reused_from"]);
        Assert.Equal(11, (int)againRun.Json["seed"]!);
        Assert.DoesNotContain("warning", other.Output, StringComparison.Ordinal);
        Assert.Null(otherRun.Json["seed_reused_from"]);
    }

    [Fact]
    public async Task Bench_Synthetic_WritesTableJsonCsvAndPlots()
    {
        string outDir = Path.Combine(_dir, "out");
        var console = new TestConsole { EmitAnsiSequences = false };
        console.Profile.Width = 160;
        var args = new BenchArguments
        {
            Url = _cluster.Address,
            Isl = "64",
            Osl = "8",
            Concurrency = 4,
            Requests = 24,
            OutDir = outDir,
            JsonPath = Path.Combine(_dir, "summary.json"),
            Slo = new SloTargets { TtftMs = 10_000 },
            HistoryPath = History,
        };

        BenchOutcome outcome = await BenchRunner.RunAsync(args, console);

        Assert.Equal(24, outcome.Summary.Requests);
        Assert.Equal(0, outcome.Summary.Errors);
        Assert.True(outcome.Summary.TtftMs.P50 > 0);
        Assert.True(outcome.Summary.ItlMs.P50 > 0);
        Assert.All(outcome.Results, r => Assert.Equal(8, r.OutputTokens));
        Assert.Equal(outcome.Summary.RequestsPerS, outcome.Summary.GoodputRequestsPerS, 6);
        Assert.Contains("TTFT (ms)", console.Output);
        foreach (string file in new[] { "summary.json", "summary.csv", "requests.csv", "ttft_cdf.png", "itl_cdf.png", "e2e_cdf.png", "throughput.png" })
        {
            Assert.True(new FileInfo(Path.Combine(outDir, file)).Length > 0, file);
        }

        // Every request names the worker that served it (the gateway's x-dynamo-worker header), and both served some.
        var workers = _cluster.Workers.Select(w => (string?)w.Instance.InstanceId).ToHashSet();
        Assert.All(outcome.Results, r => Assert.Contains(r.Worker, workers));
        Assert.Equal(workers, outcome.Results.Select(r => r.Worker).ToHashSet());
        var rows = (await File.ReadAllLinesAsync(Path.Combine(outDir, "requests.csv"))).Skip(1).ToList();
        Assert.Equal(24, rows.Count);
        Assert.All(rows, row => Assert.Contains(row.Split(',')[9], workers));

        var json = JsonNode.Parse(await File.ReadAllTextAsync(args.JsonPath!))!.AsObject();
        Assert.Equal(24, (long)json["requests"]!);
        Assert.Equal("tiny", (string?)json["model"]);
        byte[] png = await File.ReadAllBytesAsync(Path.Combine(outDir, "ttft_cdf.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
    }

    [Fact]
    public async Task Bench_MooncakeTrace_SharedPrefixesShowAsCacheHits()
    {
        string trace = Path.Combine(_dir, "trace.jsonl");
        var lines = Enumerable.Range(0, 12).Select(i => $"{{\"timestamp\": {i * 50}, \"input_length\": 700, \"output_length\": 4, \"hash_ids\": [7, {100 + i}]}}");
        await File.WriteAllLinesAsync(trace, lines);
        var args = new BenchArguments { Url = _cluster.Address, TracePath = trace, TraceSpeedup = 2, HistoryPath = History };

        BenchOutcome outcome = await BenchRunner.RunAsync(args, new TestConsole());

        Assert.Equal(12, outcome.Summary.Requests);
        Assert.NotNull(outcome.Summary.KvHitRate);
        Assert.True(outcome.Summary.KvHitRate > 0.3, $"hit rate {outcome.Summary.KvHitRate}: the 512-token block shared by all twelve prompts should be cached");
    }

    [Fact]
    public async Task Bench_UnreachableServer_CountsConnectionErrors()
    {
        var args = new BenchArguments { Url = new Uri("http://127.0.0.1:1/"), Model = "m", Isl = "8", Osl = "2", Rate = 100, Requests = 3, HistoryPath = History };
        BenchOutcome outcome = await BenchRunner.RunAsync(args, new TestConsole());
        Assert.Equal(3, outcome.Summary.Errors);
        Assert.Equal(3, outcome.Summary.ErrorsByKind["connection"]);
    }
}
