using System.Text.Json.Nodes;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Reports;

namespace Dynamo.Bench.Tests;

public sealed class MetricsTests
{
    private static RequestResult Ok(int i, double ttft, double itl, int tokens = 11) => new()
    {
        Index = i,
        StartS = i,
        InputTokens = 100,
        OutputTokens = tokens,
        CachedTokens = 50,
        TtftMs = ttft,
        ItlMs = itl,
        E2eMs = ttft + (itl * (tokens - 1)),
    };

    [Fact]
    public void Summary_PercentilesGoodputAndErrors()
    {
        var results = Enumerable.Range(0, 100).Select(i => Ok(i, ttft: i + 1, itl: 10)).ToList();
        results.Add(new RequestResult { Index = 100, StartS = 1, InputTokens = 100, Error = ErrorKinds.Http(503) });
        results.Add(new RequestResult { Index = 101, StartS = 0, InputTokens = 100, Error = ErrorKinds.Timeout });
        results.Add(Ok(102, 1, 1) with { Measured = false });
        var summary = MetricsAggregator.Summarize(results, new SloTargets { TtftMs = 50 });
        Assert.Equal(100, summary.Requests);
        Assert.Equal(2, summary.Errors);
        Assert.Equal(1, summary.WarmupRequests);
        Assert.Equal(50, summary.TtftMs.P50, 1);
        Assert.Equal(99, summary.TtftMs.P99, 1);
        Assert.Equal(1, summary.ErrorsByKind["http_503"]);
        Assert.Equal(1, summary.ErrorsByKind["timeout"]);
        Assert.Equal(0.5, summary.KvHitRate);
        Assert.Equal(summary.RequestsPerS / 2, summary.GoodputRequestsPerS, 6);
    }

    [Fact]
    public void Json_HasTheStableFieldNames()
    {
        var summary = MetricsAggregator.Summarize([Ok(0, 5, 2)]);
        JsonObject json = JsonReport.ToJson(summary, new Dictionary<string, JsonNode?> { ["tool"] = "test" });
        foreach (string name in new[] { "requests", "errors", "duration_s", "ttft_ms", "itl_ms", "e2e_ms", "output_tokens_per_s", "requests_per_s", "goodput_requests_per_s", "kv_hit_rate" })
        {
            Assert.True(json.ContainsKey(name), name);
        }

        foreach (string p in new[] { "p50", "p90", "p99", "mean" })
        {
            Assert.True(json["ttft_ms"]!.AsObject().ContainsKey(p), p);
        }

        Assert.Equal("test", (string?)json["tool"]);
    }

    [Fact]
    public void NoCachedTokensReported_HitRateIsNull()
    {
        var summary = MetricsAggregator.Summarize([Ok(0, 5, 2) with { CachedTokens = null }]);
        Assert.Null(summary.KvHitRate);
    }
}
