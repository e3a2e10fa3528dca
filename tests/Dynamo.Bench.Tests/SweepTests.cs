using Dynamo.Bench.Metrics;
using Dynamo.Bench.Sweep;
using Dynamo.Engine.Mocker.Profiles;
using Spectre.Console.Testing;

namespace Dynamo.Bench.Tests;

public sealed class SweepTests
{
    [Fact]
    public void Expand_TriesEverySplitOfTheBudget()
    {
        var config = new SweepConfig { GpuBudgets = [16], Rates = [1, 2], Grid = new SweepGrid { Mode = ["agg", "disagg"] } };
        var points = SweepRunner.Expand(config, PerformanceProfiles.Get("h100-70b"));
        Assert.Equal(2 * (1 + 3), points.Count);
        Assert.Contains(points, p => p is { Mode: "disagg", PrefillWorkers: 3, DecodeWorkers: 1 });
        Assert.All(points, p => Assert.Equal(16, p.Gpus));
    }

    [Fact]
    public void Pareto_KeepsOnlyUnbeatenPoints()
    {
        static SweepRow Row(double ttft, double tokens) => new(
            new SweepPoint(1, "agg", 1, 0, 0, "kv", 1, 2048, 256, ttft),
            new BenchSummary { TtftMs = new LatencySummary { P90 = ttft }, OutputTokensPerS = tokens });
        var rows = new[] { Row(100, 50), Row(200, 40), Row(300, 90), Row(150, 70) };
        var front = SweepRunner.Pareto(rows, r => r.Summary.TtftMs.P90);
        Assert.Equal([100.0, 150, 300], front.Select(r => r.Summary.TtftMs.P90));
    }

    [Fact]
    public async Task Sweep_WritesReportAndResumesFromPointFiles()
    {
        string dir = Path.Combine(Path.GetTempPath(), "dynamo-sweep-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string yaml = Path.Combine(dir, "sweep.yaml");
        await File.WriteAllTextAsync(yaml, """
            profile: h100-8b
            gpu_budgets: [2]
            rates: [2, 4]
            workload: { isl: "1000", osl: "20", requests: 30 }
            slo: { ttft_ms: 500, itl_ms: 50 }
            grid: { mode: [agg, disagg], router: [least-loaded] }
            parallel: 2
            """);
        var config = SweepConfig.Load(yaml);
        string outDir = Path.Combine(dir, "out");
        var first = await SweepRunner.RunAsync(config, outDir, new TestConsole());
        Assert.Equal(4, first.Rows.Count);
        foreach (string file in new[] { "sweep.csv", "pareto_ttft.png", "pareto_itl.png", "recommended.yaml" })
        {
            Assert.True(File.Exists(Path.Combine(outDir, file)), file);
        }

        Assert.Contains("Dynamo:", await File.ReadAllTextAsync(Path.Combine(outDir, "recommended.yaml")));
        var console = new TestConsole();
        var second = await SweepRunner.RunAsync(config, outDir, console);
        Assert.Contains("4 already done", console.Output);
        Assert.Equal(first.Rows.Select(r => r.Summary.TtftMs.P50), second.Rows.Select(r => r.Summary.TtftMs.P50));
    }

    [Fact]
    public void BadConfig_NamesTheProblem()
    {
        string yaml = Path.Combine(Path.GetTempPath(), $"sweep-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(yaml, "rates: [0]\nworkload: { isl: \"10\", osl: \"1\" }\n");
        var error = Assert.Throws<ArgumentException>(() => SweepConfig.Load(yaml));
        Assert.Contains("rates", error.Message);
    }
}
