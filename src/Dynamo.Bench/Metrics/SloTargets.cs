using System.Text.Json.Serialization;

namespace Dynamo.Bench.Metrics;

/// <summary>Latency targets for goodput: a request counts when it met every target that is set.</summary>
public sealed record SloTargets
{
    [JsonPropertyName("ttft_ms")]
    public double? TtftMs { get; init; }

    [JsonPropertyName("itl_ms")]
    public double? ItlMs { get; init; }

    /// <summary>What <see cref="ItlMs"/> is judged on (<see cref="ItlMetrics"/>; default token_p90).</summary>
    [JsonPropertyName("itl_metric")]
    public string ItlMetric { get; init; } = ItlMetrics.Default;

    [JsonPropertyName("e2e_ms")]
    public double? E2eMs { get; init; }

    public bool Met(RequestResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return r.Succeeded
            && (TtftMs is not { } ttft || (r.TtftMs is { } t && t <= ttft))
            && (ItlMs is not { } itl || ItlOf(r, ItlMetric) is not { } i || i <= itl)
            && (E2eMs is not { } e2e || r.E2eMs <= e2e);
    }

    /// <summary>
    /// The request's ITL as <paramref name="metric"/> means it: its 90th-percentile token gap (its mean gap when the
    /// gaps were not recorded), or its mean gap; null with fewer than two tokens.
    /// </summary>
    public static double? ItlOf(RequestResult r, string metric)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (metric == ItlMetrics.TokenP90 && r.TokenGapsMs is { Count: > 0 } gaps)
        {
            float[] sorted = [.. gaps];
            Array.Sort(sorted);
            return sorted[Math.Max(0, (int)Math.Ceiling(0.9 * sorted.Length) - 1)];
        }

        return r.ItlMs;
    }
}
