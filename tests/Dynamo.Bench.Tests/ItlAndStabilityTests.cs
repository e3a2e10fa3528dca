using Dynamo.Bench.Metrics;

namespace Dynamo.Bench.Tests;

/// <summary>Per-token ITL percentiles, the ITL metric an SLA is judged on, and what makes a run stable.</summary>
public sealed class ItlAndStabilityTests
{
    // Request 0: eight gaps of 10 ms, one of 100, one stall of 1,000 (mean 118). Request 1: ten gaps of 20 ms.
    private static readonly RequestResult Stalled = WithGaps(0, 10, 10, 10, 10, 10, 10, 10, 10, 100, 1000);
    private static readonly RequestResult Even = WithGaps(1, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20);

    private static RequestResult WithGaps(int index, params float[] gaps) => new()
    {
        Index = index,
        StartS = index,
        InputTokens = 10,
        OutputTokens = gaps.Length + 1,
        TtftMs = 100,
        ItlMs = gaps.Sum() / gaps.Length,
        E2eMs = 100 + gaps.Sum(),
        TokenGapsMs = gaps,
    };

    [Fact]
    public void Summarize_KnownGaps_GivesPercentilesOverEveryGapBesideEachRequestsMean()
    {
        BenchSummary summary = MetricsAggregator.Summarize([Stalled, Even]);

        // All 20 gaps sorted: 10 ×8, 20 ×10, 100, 1000. p50 is the 10th, p90 the 18th, p99 the 20th.
        Assert.Equal(20, summary.ItlTokenMs.Count);
        Assert.Equal(20, summary.ItlTokenMs.P50, 0.02);
        Assert.Equal(20, summary.ItlTokenMs.P90, 0.02);
        Assert.Equal(1000, summary.ItlTokenMs.P99, 1.0);
        Assert.Equal(10, summary.ItlTokenMs.Min, 0.01);
        Assert.Equal(2, summary.ItlMs.Count);
        Assert.Equal(118, summary.ItlMs.Max, 0.2);
    }

    [Fact]
    public void SloTargets_ItlMetric_JudgesTheRequestsP90GapOrItsMeanGap()
    {
        // Stalled: its own p90 gap is 100 ms (9th of 10), its mean 118 ms; a target of 110 ms tells them apart.
        Assert.True(new SloTargets { ItlMs = 110, ItlMetric = ItlMetrics.TokenP90 }.Met(Stalled));
        Assert.False(new SloTargets { ItlMs = 110, ItlMetric = ItlMetrics.RequestMean }.Met(Stalled));
        Assert.Equal(ItlMetrics.TokenP90, new SloTargets().ItlMetric);
        Assert.Equal(0.5, SlaAttainment.Of([Stalled, Even], null, 110, ItlMetrics.RequestMean));
        Assert.Equal(1.0, SlaAttainment.Of([Stalled, Even], null, 110, ItlMetrics.TokenP90));
    }

    [Fact]
    public void ItlMetrics_UnknownValue_IsNamedWithTheChoices()
    {
        Assert.Null(ItlMetrics.Error(null, "slo.itl_metric"));
        Assert.Null(ItlMetrics.Error("request_mean", "slo.itl_metric"));
        Assert.Equal("slo.itl_metric must be token_p90 or request_mean (got 'p95').", ItlMetrics.Error("p95", "slo.itl_metric"));
    }

    [Fact]
    public void Stability_ServerFasterThanArrivals_IsStable()
    {
        RunStability stability = RunStability.Of(Queue(600, rate: 8, serviceS: 0.1));
        Assert.True(stability.Stable, stability.Reason);
        Assert.Equal(8, stability.OfferedRequestsPerS, 0.01);
        Assert.Equal(1, stability.ServedFraction, 0.01);
    }

    [Fact]
    public void Stability_QueueGrowingAllRun_IsUnstableWithServedAndOfferedRates()
    {
        // 8 req/s offered to a server of 7.65 req/s: the 1P:1D point.
        RunStability stability = RunStability.Of(Queue(600, rate: 8, serviceS: 1 / 7.65));
        Assert.False(stability.Stable);
        Assert.Equal(7.65, stability.ServedRequestsPerS, 0.05);
        Assert.Contains("of 8 req/s offered", stability.Reason);
        Assert.Contains("grew", stability.Reason);
    }

    [Fact]
    public void Stability_TooFewRequests_IsNotJudged()
    {
        RunStability stability = RunStability.Of(Queue(5, rate: 8, serviceS: 1));
        Assert.True(stability.Stable);
        Assert.Contains("not judged", stability.Reason);
    }

    /// <summary>Arrivals every 1/rate s, served in order by one server taking <paramref name="serviceS"/> each.</summary>
    private static List<RequestResult> Queue(int count, double rate, double serviceS)
    {
        var results = new List<RequestResult>();
        double free = 0;
        for (int i = 0; i < count; i++)
        {
            double arrival = i / rate;
            double end = Math.Max(arrival, free) + serviceS;
            free = end;
            results.Add(new RequestResult { Index = i, StartS = arrival, InputTokens = 10, OutputTokens = 2, TtftMs = (end - arrival) * 1000, E2eMs = (end - arrival) * 1000 });
        }

        return results;
    }
}
