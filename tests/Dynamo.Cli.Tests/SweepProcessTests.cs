namespace Dynamo.Cli.Tests;

/// <summary>
/// <c>dynamo sweep</c> as a process on a two-point grid (replays in virtual time): the report files, resuming from the
/// point files, and its usage errors (exit code 1).
/// </summary>
public sealed class SweepProcessTests : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(90);
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-sweep-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Config(string yaml)
    {
        var path = Path.Combine(_dir, $"sweep-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private string TinyGrid() => Config("""
        profile: h100-8b
        gpu_budgets: [2]
        rates: [2, 4]
        workload: { isl: "1000", osl: "10", requests: 10 }
        slo: { ttft_ms: 500, itl_ms: 50 }
        grid: { mode: [agg], router: [least-loaded] }
        parallel: 2
        """);

    [Fact]
    public async Task Sweep_WritesCsvPointsAndRecommendation_ThenResumes_Exits0()
    {
        var config = TinyGrid();
        var outDir = Path.Combine(_dir, "out");

        var first = await CliRun.RunAsync(["sweep", "--config", config, "--out", outDir, "--parallel", "1"], Budget);

        Assert.True(first.ExitCode == 0, first.ToString());
        var points = Directory.GetFiles(Path.Combine(outDir, "points"), "*.json");
        var rows = File.ReadAllLines(Path.Combine(outDir, "sweep.csv")).Where(l => l.Length > 0).ToArray();
        Assert.NotEmpty(points);
        Assert.Equal(points.Length + 1, rows.Length); // header + one row per point
        string[] header = rows[0].Split(',');
        Assert.Contains("stable", header);
        Assert.Contains("eligible", header);
        Assert.All(rows.Skip(1), row => Assert.Contains(row.Split(',')[Array.IndexOf(header, "eligible")], new[] { "true", "false" }));
        string recommended = await File.ReadAllTextAsync(Path.Combine(outDir, "recommended.yaml"));
        Assert.Contains("Dynamo:", recommended);
        Assert.Contains("# TTFT p90 ", recommended);
        Assert.Contains("# ITL p90 (token gaps) ", recommended);
        Assert.Contains(" offered (", recommended);
        foreach (var plot in new[] { "pareto_ttft.png", "pareto_itl.png" })
        {
            Assert.True(new FileInfo(Path.Combine(outDir, plot)).Length > 0, plot);
        }

        var again = await CliRun.RunAsync(["sweep", "--config", config, "--out", outDir], Budget);

        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains($"{points.Length} already done", again.Stdout);
        Assert.Equal(rows, File.ReadAllLines(Path.Combine(outDir, "sweep.csv")).Where(l => l.Length > 0));
    }

    [Fact]
    public async Task Sweep_ParallelZero_Exits1NamingIt()
    {
        var result = await CliRun.RunAsync(["sweep", "--config", TinyGrid(), "--out", Path.Combine(_dir, "p0"), "--parallel", "0"], Budget);

        CliRun.AssertUsageError(result, 1, "--parallel", "0");
        Assert.False(Directory.Exists(Path.Combine(_dir, "p0")), "nothing is written on a usage error");
    }

    [Fact]
    public async Task Sweep_BadConfig_Exits1NamingTheKey()
    {
        var zeroRate = Config("rates: [0]\nworkload: { isl: \"10\", osl: \"1\" }\n");
        var notYaml = Config("rates: [1, 2\nworkload: {");
        var missing = Path.Combine(_dir, "missing.yaml");

        var results = await Task.WhenAll(
            CliRun.RunAsync(["sweep", "--config", zeroRate, "--out", Path.Combine(_dir, "o1")], Budget),
            CliRun.RunAsync(["sweep", "--config", notYaml, "--out", Path.Combine(_dir, "o2")], Budget),
            CliRun.RunAsync(["sweep", "--config", missing, "--out", Path.Combine(_dir, "o3")], Budget),
            CliRun.RunAsync(["sweep", "--out", Path.Combine(_dir, "o4")], Budget));

        CliRun.AssertUsageError(results[0], 1, "rates");
        CliRun.AssertUsageError(results[1], 1, Path.GetFileName(notYaml));
        CliRun.AssertUsageError(results[2], 1, missing);
        CliRun.AssertUsageError(results[3], 1, "--config");
    }
}
