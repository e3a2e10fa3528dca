namespace Dynamo.Bench.Metrics;

/// <summary>
/// The planner's figure of merit: the fraction of measured requests that met both the TTFT and the ITL target. ITL
/// is judged per request as <see cref="ItlMetrics"/> says: by default here on its mean gap between tokens,
/// (e2e − TTFT) ÷ (tokens − 1), the <c>itl_ms</c> every report gives and the ITL the planner's decode profile
/// predicts; with <see cref="ItlMetrics.TokenP90"/> on the 90th percentile of its own token gaps. A request of one
/// token has no gap and meets the ITL target. Failed and rejected requests count as misses.
/// </summary>
public static class SlaAttainment
{
    /// <summary>0..1, or null when neither target is set (nothing to attain).</summary>
    public static double? Of(IReadOnlyList<RequestResult> results, double? ttftMs, double? itlMs, string itlMetric = ItlMetrics.RequestMean)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (ttftMs is null && itlMs is null)
        {
            return null;
        }

        int measured = 0, met = 0;
        foreach (RequestResult r in results)
        {
            if (!r.Measured)
            {
                continue;
            }

            measured++;
            if (Met(r, ttftMs, itlMs, itlMetric))
            {
                met++;
            }
        }

        return measured == 0 ? null : (double)met / measured;
    }

    public static bool Met(RequestResult r, double? ttftMs, double? itlMs, string itlMetric = ItlMetrics.RequestMean)
    {
        ArgumentNullException.ThrowIfNull(r);
        return r.Succeeded
            && (ttftMs is not { } ttft || (r.TtftMs is { } t && t <= ttft))
            && (itlMs is not { } itl || SloTargets.ItlOf(r, itlMetric) is not { } i || i <= itl);
    }
}
