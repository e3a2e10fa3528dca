using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dynamo.Planner.Observers;
using Dynamo.Runtime.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Dynamo.Cli.Tests;

/// <summary>
/// <c>dynamo serve --engine mocker --planner</c> as a process under a load that triples and falls back: the pools grow
/// and shrink, no request fails, and the decisions are in <c>/metrics</c> and the log. Short intervals (a test config)
/// keep it under a minute. Also the CLI's answers to bad planner input.
/// </summary>
public sealed class PlannerProcessTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-planner-serve-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task ServePlanner_LoadTriplesThenFalls_PoolsGrowAndShrink_NoRequestFails()
    {
        var config = WriteConfig();
        await using var serve = DynamoProcess.Start(
            ["serve", "--engine", "mocker", "--planner", "--config", config, "--port", "0"],
            new Dictionary<string, string> { ["DYNAMO_CACHE_DIR"] = _dir });
        var url = (await serve.WaitForLineAsync(@"serving model '\S+' at (http://\S+/)v1", StartTimeout)).Groups[1].Value;
        await serve.WaitForLineAsync("Planner on: policy sla", StartTimeout);
        using var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };

        var timeline = new List<(double T, double Rate, int Prefill, int Decode)>();
        var clock = Stopwatch.StartNew();
        var rate = 0.0;
        using var stopSampling = new CancellationTokenSource();
        var sampling = Task.Run(async () =>
        {
            while (!stopSampling.IsCancellationRequested)
            {
                var metrics = await client.GetStringAsync("metrics");
                lock (timeline)
                {
                    timeline.Add((clock.Elapsed.TotalSeconds, rate, (int)Actual(metrics, "prefill"), (int)Actual(metrics, "decode")));
                }

                await Task.Delay(500);
            }
        });

        // 2 req/s, then 6 (three times the load), then 2 again; each request a unique prompt (no prefix-cache hits).
        var requests = new List<Task<StreamResult>>();
        foreach (var (phaseRate, seconds) in new[] { (2.0, 10.0), (6.0, 14.0), (2.0, 14.0) })
        {
            rate = phaseRate;
            var phase = Stopwatch.StartNew();
            for (var i = 0; phase.Elapsed.TotalSeconds < seconds; i++)
            {
                requests.Add(CompletionStreams.RunAsync(client, 64, prompt: $"request {requests.Count} {Guid.NewGuid():N} {Guid.NewGuid():N} {Guid.NewGuid():N}"));
                var next = TimeSpan.FromSeconds((i + 1) / phaseRate) - phase.Elapsed;
                if (next > TimeSpan.Zero)
                {
                    await Task.Delay(next);
                }
            }
        }

        var results = await Task.WhenAll(requests);
        await stopSampling.CancelAsync();
        await sampling;
        var final = PrometheusText.SumByName(await client.GetStringAsync("metrics"));
        var metricsText = await client.GetStringAsync("metrics");

        foreach (var (t, r, p, d) in timeline.Where((_, i) => i % 4 == 0))
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"t={t,5:F1}s load={r} req/s prefill={p} decode={d}"));
        }

        output.WriteLine($"{results.Length} requests, {results.Count(r => !r.IsComplete(64))} failed");
        Assert.All(results.Select((r, i) => (r, i)), x => Assert.True(x.r.IsComplete(64), $"request {x.i}: {x.r}\n{serve.Output}"));

        // Grew under the tripled load, shrank after it.
        var peak = timeline.Where(s => s.Rate == 6.0).Select(s => s.Decode).DefaultIfEmpty().Max();
        var low = timeline.Where(s => s.Rate == 2.0).Select(s => s.Decode).DefaultIfEmpty().Min();
        var last = timeline[^1];
        Assert.True(peak >= 3 && peak > low, $"decode pool did not grow: peak {peak}, low {low}\n{string.Join('\n', timeline)}");
        Assert.True(last.Decode < peak, $"decode pool did not shrink after the peak ({peak}): ends at {last.Decode}\n{string.Join('\n', timeline)}");
        Assert.True(timeline.Max(s => s.Prefill) > 1, $"prefill pool did not grow from the 1 it started with\n{string.Join('\n', timeline)}");

        // The decisions are in /metrics and the log.
        Assert.True(final.GetValueOrDefault("dynamo_planner_decisions_total") > 0, metricsText);
        Assert.Contains("dynamo_planner_decisions_total{reason=\"throughput\"}", metricsText);
        Assert.Contains("dynamo_planner_scaling_actions_total{pool=\"decode\",direction=\"up\"}", metricsText);
        Assert.Contains("dynamo_planner_scaling_actions_total{pool=\"decode\",direction=\"down\"}", metricsText);
        Assert.Contains("Planner decision throughput (acted True): ", serve.Output);

        serve.Interrupt();
        Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public async Task ServePlanner_DotnetEngineWithoutProfile_NamesTheKeyAndExits1()
    {
        var result = await CliRun.RunAsync(["serve", "--engine", "dotnet", "--planner", "--port", "0"], StartTimeout);

        CliRun.AssertUsageError(result, 1, "Dynamo:Planner:Profile", "dynamo profile");
    }

    [Fact]
    public async Task ServePlanner_MockerWithoutConfig_PlansWithTheMockersSimulatedProfile()
    {
        await using var serve = DynamoProcess.Start(
            ["serve", "--engine", "mocker", "--planner", "--port", "0"],
            new Dictionary<string, string> { ["DYNAMO_CACHE_DIR"] = _dir });

        await serve.WaitForLineAsync("Planner on: policy sla, mode disagg, profile simulated from this serve's Dynamo:Mocker settings", StartTimeout);
        var url = (await serve.WaitForLineAsync(@"serving model '\S+' at (http://\S+/)v1", StartTimeout)).Groups[1].Value;
        using var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
        Assert.True((await CompletionStreams.RunAsync(client, 8)).IsComplete(8));
        Assert.Contains("dynamo_planner_predicted_request_rate", await client.GetStringAsync("metrics"));
        serve.Interrupt();
        Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public async Task ServePlanner_CorruptProfile_NamesTheFileAndFieldAndExits1()
    {
        var profile = Path.Combine(_dir, "profile.json");
        await File.WriteAllTextAsync(profile, ProfileJson.Replace("\"concurrency\": [1, 2, 4, 8]", "\"concurrency\": [1, 2, 2, 8]", StringComparison.Ordinal));
        var config = WriteConfig(profile);

        var result = await CliRun.RunAsync(["serve", "--engine", "mocker", "--planner", "--config", config, "--port", "0"], StartTimeout);

        CliRun.AssertUsageError(result, 1, profile, "decode.concurrency[2]");
    }

    [Fact]
    public async Task ServePlanner_ModeThatIsNotTheClusters_Exits1()
    {
        var config = WriteConfig(extraPlanner: "    Mode: agg\n");

        var result = await CliRun.RunAsync(["serve", "--engine", "mocker", "--planner", "--config", config, "--port", "0"], StartTimeout);

        CliRun.AssertUsageError(result, 1, "Dynamo:Planner:Mode", "Dynamo:Serve:Mode");
    }

    [Fact]
    public async Task Planner_KubernetesWithoutGraph_Exits1()
    {
        var result = await CliRun.RunAsync(["planner", "--nats", "nats://127.0.0.1:4222", "--connector", "kubernetes"], StartTimeout);

        CliRun.AssertUsageError(result, 1, "--connector kubernetes needs --graph NAME");
    }

    [Theory]
    [InlineData("docker", "--connector 'docker'")]
    [InlineData(null, "--connector is required")]
    public async Task Planner_BadConnector_Exits1(string? connector, string message)
    {
        string[] args = connector is null ? ["planner", "--nats", "nats://127.0.0.1:4222"] : ["planner", "--nats", "nats://127.0.0.1:4222", "--connector", connector];

        CliRun.AssertUsageError(await CliRun.RunAsync(args, StartTimeout), 1, message);
    }

    [Theory]
    [InlineData(null, "--frontend-metrics is required")]
    [InlineData("ftp://host/metrics", "--frontend-metrics 'ftp://host/metrics'")]
    public async Task Planner_BadFrontendMetrics_Exits1(string? frontends, string message)
    {
        List<string> args = ["planner", "--nats", "nats://127.0.0.1:4222", "--connector", "virtual"];
        if (frontends is not null)
        {
            args.AddRange(["--frontend-metrics", frontends]);
        }

        CliRun.AssertUsageError(await CliRun.RunAsync(args, StartTimeout), 1, message);
    }

    private static double Actual(string metrics, string pool) =>
        System.Text.RegularExpressions.Regex.Match(metrics, $"^dynamo_planner_actual_workers\\{{pool=\"{pool}\"\\}} (\\S+)$", System.Text.RegularExpressions.RegexOptions.Multiline) is { Success: true } m
            ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)
            : 0;

    /// <summary>
    /// The test deployment's profile: a prefill worker takes 200 prompt tokens/s (TTFT 18 ms at 100 tokens), a decode
    /// worker runs 5 sequences within the 50 ms ITL target. For ~100-token prompts and 64-token outputs, 2 req/s needs
    /// 2 prefill + 2 decode workers and 6 req/s needs 4 + 4.
    /// </summary>
    private const string ProfileJson = """
        {
          "format_version": 1,
          "model": "tiny",
          "hardware": "test",
          "source": "measured",
          "prefill": { "gpus_per_worker": 1, "isl": [16, 128, 1024], "ttft_ms": [10, 20, 100], "tokens_per_s_per_gpu": [200, 200, 200] },
          "decode": {
            "gpus_per_worker": 1,
            "concurrency": [1, 2, 4, 8],
            "context_length": [64, 1024],
            "itl_ms": [[10, 10], [20, 20], [40, 40], [80, 80]],
            "tokens_per_s_per_gpu": [[100, 100], [100, 100], [100, 100], [100, 100]]
          },
          "kv": { "block_size": 16, "blocks_per_worker": 16384 }
        }
        """;

    private string WriteConfig(string? profile = null, string extraPlanner = "")
    {
        if (profile is null)
        {
            profile = Path.Combine(_dir, "profile.json");
            File.WriteAllText(profile, ProfileJson);
        }

        var config = Path.Combine(_dir, "planner-test.yaml");
        File.WriteAllText(config, $"""
            Dynamo:
              Serve:
                Mode: disagg
                PrefillWorkers: 1
                DecodeWorkers: 1
              Mocker:
                ZeroDelay: false
              Planner:
                Profile: {profile}
                Sla: {"{"} TtftMs: 500, ItlMs: 50 {"}"}
                ThroughputInterval: "00:00:03"
                LoadInterval: "00:00:01"
                ScaleDownStabilization: "00:00:03"
                WorkerStartupTime: "00:00:00"
                Predictor: {"{"} Kind: constant {"}"}
                LoadLoop: {"{"} Enabled: false {"}"}
                Correction: {"{"} Enabled: false {"}"}
                Prefill: {"{"} Min: 1, Max: 6 {"}"}
                Decode: {"{"} Min: 1, Max: 6 {"}"}

            """ + extraPlanner);
        return config;
    }
}
