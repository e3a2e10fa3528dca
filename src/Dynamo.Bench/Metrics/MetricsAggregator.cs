using HdrHistogram;

namespace Dynamo.Bench.Metrics;

/// <summary>Turns per-request results into a <see cref="BenchSummary"/>; percentiles come from HdrHistogram in microseconds.</summary>
public static class MetricsAggregator
{
    /// <summary>One hour in microseconds: the longest latency tracked.</summary>
    private const long HighestUs = 3_600_000_000;

    public static BenchSummary Summarize(IReadOnlyList<RequestResult> results, SloTargets? slo = null, double? durationS = null)
    {
        ArgumentNullException.ThrowIfNull(results);
        slo ??= new SloTargets();
        var ttft = new LongHistogram(HighestUs, 3);
        var itl = new LongHistogram(HighestUs, 3);
        var itlToken = new LongHistogram(HighestUs, 3);
        var e2e = new LongHistogram(HighestUs, 3);
        var errors = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long ok = 0, failed = 0, good = 0, warmup = 0, outputTokens = 0, inputTokens = 0, cached = 0;
        bool cacheReported = false;
        double first = double.MaxValue, last = double.MinValue;
        foreach (RequestResult r in results)
        {
            if (!r.Measured)
            {
                warmup++;
                continue;
            }

            first = Math.Min(first, r.StartS);
            last = Math.Max(last, r.StartS + (r.E2eMs / 1000.0));
            if (!r.Succeeded)
            {
                failed++;
                errors[r.Error!] = errors.GetValueOrDefault(r.Error!) + 1;
                continue;
            }

            ok++;
            outputTokens += r.OutputTokens;
            inputTokens += r.InputTokens;
            cached += r.CachedTokens ?? 0;
            cacheReported |= r.CachedTokens is not null;
            e2e.RecordValue(Us(r.E2eMs));
            if (r.TtftMs is { } t)
            {
                ttft.RecordValue(Us(t));
            }

            if (r.ItlMs is { } i)
            {
                itl.RecordValue(Us(i));
            }

            foreach (float gap in r.TokenGapsMs ?? [])
            {
                itlToken.RecordValue(Us(gap));
            }

            if (slo.Met(r))
            {
                good++;
            }
        }

        double duration = durationS ?? (ok + failed > 0 ? Math.Max(last - first, 1e-9) : 0);
        double Per(long n) => duration > 0 ? n / duration : 0;
        return new BenchSummary
        {
            Requests = ok,
            Errors = failed,
            DurationS = duration,
            TtftMs = Summary(ttft),
            ItlMs = Summary(itl),
            ItlTokenMs = Summary(itlToken),
            E2eMs = Summary(e2e),
            OutputTokensPerS = Per(outputTokens),
            InputTokensPerS = Per(inputTokens),
            RequestsPerS = Per(ok),
            GoodputRequestsPerS = Per(good),
            KvHitRate = cacheReported && inputTokens > 0 ? (double)cached / inputTokens : null,
            ErrorsByKind = errors,
            Slo = slo,
            WarmupRequests = warmup,
            Stability = RunStability.Of(results),
        };
    }

    private static long Us(double ms) => Math.Clamp((long)Math.Round(ms * 1000.0), 0, HighestUs);

    private static LatencySummary Summary(LongHistogram h) => h.TotalCount == 0
        ? new LatencySummary()
        : new LatencySummary
        {
            P50 = h.GetValueAtPercentile(50) / 1000.0,
            P90 = h.GetValueAtPercentile(90) / 1000.0,
            P99 = h.GetValueAtPercentile(99) / 1000.0,
            Mean = h.GetMean() / 1000.0,
            Min = LowestValue(h) / 1000.0,
            Max = h.GetMaxValue() / 1000.0,
            Count = h.TotalCount,
        };

    private static long LowestValue(LongHistogram h) => h.GetValueAtPercentile(0);
}
