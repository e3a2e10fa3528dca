using System.Text.Json.Nodes;

namespace Dynamo.Cli.Tests;

/// <summary>
/// <c>dynamo replay --planner FILE</c> as a process: the pools resized in virtual time by the configured policy, the
/// JSON fields it adds (sla_attainment, gpu_hours, scaling), load reshaping, and the usage errors (exit code 1, the
/// message naming the file and the key).
/// </summary>
public sealed class ReplayPlannerProcessTests : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(90);
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-replay-planner-").FullName;

    public ReplayPlannerProcessTests()
    {
        // A small profile in the documented format: one GPU a worker, TTFT growing with ISL, ITL with concurrency.
        File.WriteAllText(ProfilePath, """
            {
              "format_version": 1, "model": "test-8b", "hardware": "1x test", "source": "measured",
              "prefill": { "gpus_per_worker": 1, "isl": [128, 1024, 8192], "ttft_ms": [15, 45, 400], "tokens_per_s_per_gpu": [9000, 22000, 20000] },
              "decode": {
                "gpus_per_worker": 1, "concurrency": [1, 16, 64], "context_length": [512, 4096],
                "itl_ms": [[8, 9], [11, 14], [20, 30]],
                "tokens_per_s_per_gpu": [[120, 110], [1400, 1100], [3200, 2100]]
              },
              "kv": { "block_size": 16, "blocks_per_worker": 25000 }
            }
            """);
    }

    private string ProfilePath => Path.Combine(_dir, "profile.json");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PlannerFile(string body, string name = "planner.yaml")
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, "Dynamo:\n  Planner:\n" + string.Join('\n', body.Split('\n').Select(l => "    " + l)) + "\n");
        return path;
    }

    private string AggPlanner(string policy = "sla") => PlannerFile($"""
        Policy: {policy}
        Mode: agg
        Profile: {ProfilePath}
        Sla:
          TtftMs: 300
          ItlMs: 40
        LoadInterval: 00:00:05
        ThroughputInterval: 00:00:30
        WorkerStartupTime: 00:00:20
        ScaleDownStabilization: 00:01:00
        Workers:
          Min: 1
          Max: 12
        """);

    private static string[] Workload => ["--isl", "uniform:500:3000", "--osl", "uniform:50:300", "--rate", "6", "--requests", "1500", "--seed", "4"];

    [Fact]
    public async Task Replay_WithPlanner_AndRateSchedule_ReportsAttainmentGpuHoursAndScaling()
    {
        string json = Path.Combine(_dir, "out.json");
        string outDir = Path.Combine(_dir, "out");
        var result = await CliRun.RunAsync(
            ["replay", .. Workload, "--planner", AggPlanner(), "--rate-schedule", "0:1,60:3,120:1", "--length-schedule", "90:1.5:0.5", "--json", json, "--out", outDir], Budget);

        Assert.True(result.ExitCode == 0, result.ToString());
        var summary = JsonNode.Parse(await File.ReadAllTextAsync(json))!.AsObject();
        Assert.Equal("agg", (string?)summary["mode"]);
        Assert.InRange((double)summary["sla_attainment"]!, 0, 1);
        Assert.Equal((300.0, 40.0, "request_mean"), ((double)summary["sla_attainment_targets"]!["ttft_ms"]!, (double)summary["sla_attainment_targets"]!["itl_ms"]!, (string?)summary["sla_attainment_targets"]!["itl_judged_on"]));
        Assert.True((double)summary["gpu_hours"]! > 0);
        var scaling = summary["scaling"]!.AsArray();
        Assert.Equal(0, (double)scaling[0]!["t_s"]!);
        Assert.True(scaling.Count >= 2, $"a load that triples should resize the pool: {scaling.ToJsonString()}");
        Assert.All(scaling, e => Assert.True((int)e!["workers"]! >= 1));
        Assert.True(scaling.Zip(scaling.Skip(1)).All(p => (double)p.First!["t_s"]! < (double)p.Second!["t_s"]!));
        Assert.Equal(("sla", 5.0, 20.0), ((string?)summary["planner"]!["policy"], (double)summary["planner"]!["interval_s"]!, (double)summary["planner"]!["startup_delay_s"]!));
        foreach (string file in new[] { "timeline.png", "pools.csv", "planner_decisions.csv", "workers.csv" })
        {
            Assert.True(new FileInfo(Path.Combine(outDir, file)).Length > 0, file);
        }
    }

    [Fact]
    public async Task Replay_WithTheSlaPlanner_SameSeed_SameJson()
    {
        async Task<string> Once(string name)
        {
            string json = Path.Combine(_dir, name);
            var result = await CliRun.RunAsync(["replay", .. Workload, "--planner", AggPlanner(), "--rate-schedule", "0:1,60:3,120:1", "--router", "random", "--json", json], Budget);
            Assert.True(result.ExitCode == 0, result.ToString());
            var node = JsonNode.Parse(await File.ReadAllTextAsync(json))!.AsObject();
            foreach (string wallClock in new[] { "wall_s", "router_decision_us", "router_decision_timing_control_us", "router_decision_us_by_prompt_tokens" })
            {
                Assert.NotNull(node[wallClock]);
                node.Remove(wallClock);
            }

            return node.ToJsonString();
        }

        string first = await Once("a.json");
        Assert.Equal(first, await Once("b.json"));
        Assert.Contains("\"scaling\"", first);
    }

    [Fact]
    public async Task ShippedPlannerConfig_ReplaysBenchsAzureTrace_FromTheRepositoryRoot()
    {
        // The interface as the issue states it: the shipped file, bench's copy of the trace, nothing else.
        string root = RepoRoot();
        string json = Path.Combine(_dir, "azure.json");
        var result = await CliRun.RunAsync(["replay", "--trace", "bench/traces/AzureLLMInferenceTrace_conv.csv", "--planner", "configs/planner.yaml", "--json", json, "--no-plots"], TimeSpan.FromMinutes(4), root);

        Assert.True(result.ExitCode == 0, result.ToString());
        var summary = JsonNode.Parse(await File.ReadAllTextAsync(json))!;
        Assert.Equal((19366, "disagg", "h100-70b"), ((int)summary["requests"]!, (string?)summary["mode"], (string?)summary["profile"]));
        Assert.InRange((double)summary["sla_attainment"]!, 0, 1);
        Assert.True((double)summary["gpu_hours"]! > 0);
        Assert.All(summary["scaling"]!.AsArray(), e => Assert.True((int)e!["decode"]! >= 1 && (int)e["prefill"]! >= 1));
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "configs", "planner.yaml")) && Directory.Exists(Path.Combine(dir.FullName, "bench", "traces")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("the repository root (configs/planner.yaml, bench/traces) was not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public async Task Replay_ThresholdPolicy_AndStartupDelayFlag()
    {
        string json = Path.Combine(_dir, "threshold.json");
        var result = await CliRun.RunAsync(["replay", .. Workload, "--planner", AggPlanner("threshold"), "--startup-delay-s", "45", "--json", json, "--no-plots"], Budget);

        Assert.True(result.ExitCode == 0, result.ToString());
        var summary = JsonNode.Parse(await File.ReadAllTextAsync(json))!;
        Assert.Equal(("threshold", 45.0), ((string?)summary["planner"]!["policy"], (double)summary["planner"]!["startup_delay_s"]!));
    }

    [Fact]
    public async Task Replay_StaticRun_StillReportsGpuHoursAndOneScalingEntry()
    {
        var result = await CliRun.RunAsync(["replay", .. Workload, "--workers", "3", "--profile", "h100-70b", "--slo-ttft-ms", "500", "--json", "-", "--no-plots"], Budget);

        Assert.True(result.ExitCode == 0, result.ToString());
        var summary = JsonNode.Parse(result.Stdout)!;
        Assert.Equal(12 * (double)summary["simulated_s"]! / 3600, (double)summary["gpu_hours"]!, 3);
        Assert.Equal("""[{"t_s":0,"workers":3,"reason":"initial"}]""", summary["scaling"]!.ToJsonString());
        Assert.Null(summary["planner"]);
    }

    [Fact]
    public async Task Replay_BadPlannerKey_Exits1NamingFileAndKey()
    {
        string bad = PlannerFile($"Mode: agg\nProfile: {ProfilePath}\nSla:\n  TtftMs: -5\n", "bad.yaml");
        var result = await CliRun.RunAsync(["replay", .. Workload, "--planner", bad], Budget);
        CliRun.AssertUsageError(result, 1, "--planner", "bad.yaml", "Dynamo:Planner:Sla:TtftMs", "-5");
    }

    [Fact]
    public async Task Replay_PlannerProfileMissingOrBad_Exits1NamingTheProfileFileAndField()
    {
        string missing = Path.Combine(_dir, "nowhere", "profile.json");
        var absent = await CliRun.RunAsync(["replay", .. Workload, "--planner", PlannerFile($"Mode: agg\nProfile: {missing}\n", "absent.yaml")], Budget);
        CliRun.AssertUsageError(absent, 1, "absent.yaml", "Dynamo:Planner:Profile", missing);

        string corrupt = Path.Combine(_dir, "corrupt.json");
        await File.WriteAllTextAsync(corrupt, (await File.ReadAllTextAsync(ProfilePath)).Replace("\"ttft_ms\": [15, 45, 400]", "\"ttft_ms\": [15, 45]", StringComparison.Ordinal));
        var bad = await CliRun.RunAsync(["replay", .. Workload, "--planner", PlannerFile($"Mode: agg\nProfile: {corrupt}\n", "corrupt.yaml")], Budget);
        CliRun.AssertUsageError(bad, 1, "corrupt.yaml", "corrupt.json", "prefill.ttft_ms");
    }

    [Theory]
    [InlineData(new[] { "--rate-schedule", "0:1,30:0" }, "multiplier 0")]
    [InlineData(new[] { "--rate-schedule", "soon" }, "'soon'")]
    [InlineData(new[] { "--startup-delay-s", "30" }, "--planner")]
    [InlineData(new[] { "--length-schedule", "0:2" }, "'0:2'")]
    [InlineData(new[] { "--planner", "/nonexistent/planner.yaml" }, "/nonexistent/planner.yaml")]
    public async Task Replay_BadReshapingOrPlannerFlags_Exit1NamingThem(string[] flags, string mention)
    {
        var result = await CliRun.RunAsync(["replay", .. Workload, .. flags], Budget);
        CliRun.AssertUsageError(result, 1, mention);
    }

    [Fact]
    public async Task Replay_SloFlagDifferentFromThePlannersSla_IsRefused()
    {
        var result = await CliRun.RunAsync(["replay", .. Workload, "--planner", AggPlanner(), "--slo-ttft-ms", "900"], Budget);
        CliRun.AssertUsageError(result, 1, "--slo-ttft-ms 900", "Dynamo:Planner:Sla:TtftMs 300");
    }

    [Fact]
    public async Task Replay_TraceGoingBackwards_Exits1WithTheLine()
    {
        string trace = Path.Combine(_dir, "back.jsonl");
        await File.WriteAllLinesAsync(trace, ["{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2}", "{\"timestamp\": 900, \"input_length\": 10, \"output_length\": 2}", "{\"timestamp\": 100, \"input_length\": 10, \"output_length\": 2}"]);
        var result = await CliRun.RunAsync(["replay", "--trace", trace], Budget);
        CliRun.AssertUsageError(result, 1, "back.jsonl:3: timestamp 100 is before the previous one (900, line 2)", "--sort-trace");

        var sorted = await CliRun.RunAsync(["replay", "--trace", trace, "--sort-trace", "--json", "-"], Budget);
        Assert.True(sorted.ExitCode == 0, sorted.ToString());
        Assert.Contains("warning:", sorted.Stderr);
        Assert.Contains("1 line(s)", sorted.Stderr);
        Assert.Equal(3, (int)JsonNode.Parse(sorted.Stdout)!["requests"]!);
    }
}
