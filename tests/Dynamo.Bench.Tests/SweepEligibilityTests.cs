using Dynamo.Bench.Metrics;
using Dynamo.Bench.Reports;
using Dynamo.Bench.Sweep;
using Dynamo.Engine.Mocker.Profiles;

namespace Dynamo.Bench.Tests;

/// <summary>What the sweep may recommend (stable points meeting both targets at p90) and what its plots show.</summary>
public sealed class SweepEligibilityTests
{
    private static readonly SloTargets Targets = new() { TtftMs = 500, ItlMs = 50, ItlMetric = ItlMetrics.TokenP90 };

    private static SweepRow Row(string mode, int p, int d, double rate, double ttftP90, double itlTokenP90, double served, bool stable, double tokensPerS, double goodput)
    {
        var point = mode == "agg"
            ? new SweepPoint(8, "agg", 2, 0, 0, "kv", 1, 2048, 256, rate)
            : new SweepPoint(8, "disagg", 0, p, d, "kv", 1, 2048, 256, rate);
        var summary = new BenchSummary
        {
            Requests = 600,
            TtftMs = new LatencySummary { P50 = ttftP90 / 2, P90 = ttftP90, P99 = ttftP90 * 2, Count = 600 },
            ItlMs = new LatencySummary { P90 = itlTokenP90 / 2, Count = 600 },
            ItlTokenMs = new LatencySummary { P90 = itlTokenP90, Count = 60_000 },
            OutputTokensPerS = tokensPerS,
            RequestsPerS = served,
            GoodputRequestsPerS = goodput,
            Stability = new RunStability
            {
                OfferedRequestsPerS = rate,
                ServedRequestsPerS = served,
                ServedFraction = served / rate,
                InSystemMiddle = 10,
                InSystemLast = stable ? 10 : 80,
                Stable = stable,
                Reason = stable ? "" : $"served {served} of {rate} req/s offered; requests in the system grew from 10 (middle third) to 80 (last third)",
            },
        };
        return new SweepRow(point, summary, Targets);
    }

    // The issue's trap: disagg 1P:1D at 8 req/s, queue growing all run, TTFT p90 32.6 s, but many short requests met
    // both targets, so its per-request goodput is the highest of the grid.
    private static readonly SweepRow Tempting = Row("disagg", 1, 1, 8, 32_600, 20, 7.65, stable: false, tokensPerS: 400, goodput: 5);
    private static readonly SweepRow SlowFirstToken = Row("disagg", 1, 1, 4, 800, 20, 4, stable: true, tokensPerS: 200, goodput: 1);
    private static readonly SweepRow StallingTokens = Row("agg", 0, 0, 6, 300, 230, 6, stable: true, tokensPerS: 300, goodput: 6);
    private static readonly SweepRow Good = Row("agg", 0, 0, 3, 420, 45, 3, stable: true, tokensPerS: 150, goodput: 3);

    [Fact]
    public void Recommend_NeverPicksTheUnstableOrTargetMissingPoint()
    {
        SweepRow[] rows = [Tempting, SlowFirstToken, StallingTokens, Good];

        Assert.False(Tempting.Eligible);
        Assert.Contains(Tempting.Failures, f => f.StartsWith("unstable", StringComparison.Ordinal));
        Assert.Equal(0, Tempting.GoodputPerGpu);
        Assert.False(SlowFirstToken.Eligible);
        Assert.False(StallingTokens.Eligible);
        Assert.Contains(StallingTokens.Failures, f => f.Contains("ITL p90 (token gaps) 230", StringComparison.Ordinal));
        Assert.True(Good.Eligible);
        Assert.Equal(3.0 / 8, Good.GoodputPerGpu, 9);
        Assert.Same(Good, SweepRunner.Recommend(rows));
    }

    [Fact]
    public void Recommend_NothingEligible_ReturnsNullAndTheFileSaysSoNamingTheClosest()
    {
        SweepRow[] rows = [Tempting, SlowFirstToken, StallingTokens];

        Assert.Null(SweepRunner.Recommend(rows));
        SweepRow closest = SweepRunner.Closest(rows)!;
        Assert.Same(SlowFirstToken, closest); // 800 ÷ 500 = 1.6 beats 230 ÷ 50 and 65 ÷ 0.5 s of the others
        string yaml = SweepRunner.NoneEligibleYaml(closest, "h100-70b", Targets);
        Assert.StartsWith("# NO CONFIGURATION RECOMMENDED", yaml, StringComparison.Ordinal);
        Assert.Contains("# Closest: disagg 1P:1D, 8 GPUs, router kv at 4 req/s", yaml);
        Assert.Contains("It fails: TTFT p90 800 ms > target 500 ms", yaml);
        Assert.All(yaml.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.StartsWith("#", line, StringComparison.Ordinal));
    }

    [Fact]
    public void ServeYaml_HeaderCarriesPercentilesMarginsAndRates()
    {
        string yaml = SweepRunner.ServeYaml(Good, "h100-70b", Targets);
        Assert.Contains("# TTFT p90 420 ms (target 500 ms, margin 80 ms, 16%)", yaml);
        Assert.Contains("# ITL p90 (token gaps) 45 ms (target 50 ms, margin 5 ms, 10%); itl_metric token_p90", yaml);
        Assert.Contains("# served 3 req/s of 3 offered", yaml);
        Assert.Contains("agg 2 workers, 8 GPUs, router kv at 3 req/s", yaml);
        Assert.Contains("\nDynamo:\n  Serve:\n    Mode: agg\n    Workers: 2\n", yaml);
    }

    [Fact]
    public void ParetoPlot_LatencySpanningDecades_IsLogWithTheRecommendedPointLabelled()
    {
        SweepRow[] rows = [Tempting, SlowFirstToken, StallingTokens, Good];
        var result = new SweepResult(rows, SweepRunner.Recommend(rows), PerformanceProfiles.Get("h100-70b"));

        IReadOnlyList<ParetoPlotModel> plots = SweepRunner.PlotModels(result, Targets);
        ParetoPlotModel ttft = plots[0];

        Assert.True(ttft.XLog); // 300 ms to 32,600 ms and the 500 ms target: over two decades
        Assert.Contains("log scale", ttft.XLabel);
        Assert.True(ttft.XLimits.Min <= Math.Log10(300) && ttft.XLimits.Max >= Math.Log10(32_600));
        Assert.Equal(0, ttft.YLimits.Min);
        Assert.Equal(500, ttft.Target);
        Assert.NotNull(ttft.Recommended);
        Assert.Equal(420, ttft.Recommended!.X);
        Assert.Equal("recommended: agg 2 workers, 8 GPUs, router kv at 3 req/s", ttft.Recommended.Label);
        Assert.Equal(
            ["agg, eligible", "agg, not eligible (hollow)", "disagg, not eligible (hollow)", "Pareto front (all points)"],
            ttft.AllSeries.Select(s => s.Name));
        Assert.False(plots[1].XLog); // ITL 20 to 230 ms: one decade, linear from 0
        Assert.Equal(0, plots[1].XLimits.Min);
    }

    [Theory]
    [InlineData(new[] { 1.0, 100 }, false)]
    [InlineData(new[] { 1.0, 101 }, true)]
    [InlineData(new[] { 0.0, 5, 450_000 }, true)]
    [InlineData(new[] { 0.0, 0 }, false)]
    public void AxisScale_LogOnlyWhenPositiveValuesSpanMoreThanTwoDecades(double[] values, bool log) =>
        Assert.Equal(log, AxisScale.UseLog(values));

    [Fact]
    public void SweepConfig_UnknownItlMetric_IsRefusedNamingValueAndChoices()
    {
        string yaml = Path.Combine(Path.GetTempPath(), $"sweep-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(yaml, "workload: { isl: \"10\", osl: \"2\" }\nslo: { itl_ms: 50, itl_metric: p95 }\n");
        var error = Assert.Throws<ArgumentException>(() => SweepConfig.Load(yaml));
        Assert.Contains("slo.itl_metric must be token_p90 or request_mean (got 'p95')", error.Message);
        File.Delete(yaml);
    }
}
