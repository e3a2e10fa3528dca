using System.Text.Json.Serialization;

namespace Dynamo.Bench.Metrics;

/// <summary>
/// The machine-readable summary, the same for bench, replay and every sweep point. The names of the first
/// fields are fixed by the issue (other tools read them): requests, errors, duration_s, ttft_ms, itl_ms, e2e_ms,
/// output_tokens_per_s, requests_per_s, goodput_requests_per_s, kv_hit_rate.
/// </summary>
public sealed record BenchSummary
{
    /// <summary>Measured requests that succeeded.</summary>
    [JsonPropertyName("requests")]
    public long Requests { get; init; }

    /// <summary>Measured requests that failed.</summary>
    [JsonPropertyName("errors")]
    public long Errors { get; init; }

    /// <summary>Seconds from the first measured request's start to the last measured request's end.</summary>
    [JsonPropertyName("duration_s")]
    public double DurationS { get; init; }

    [JsonPropertyName("ttft_ms")]
    public LatencySummary TtftMs { get; init; } = new();

    [JsonPropertyName("itl_ms")]
    public LatencySummary ItlMs { get; init; } = new();

    /// <summary>
    /// Percentiles over every gap between consecutive output tokens of every successful request (what a user watching
    /// the stream feels), beside <see cref="ItlMs"/>, each request's mean gap. Empty (count 0) when gaps were not recorded.
    /// </summary>
    [JsonPropertyName("itl_token_ms")]
    public LatencySummary ItlTokenMs { get; init; } = new();

    [JsonPropertyName("e2e_ms")]
    public LatencySummary E2eMs { get; init; } = new();

    [JsonPropertyName("output_tokens_per_s")]
    public double OutputTokensPerS { get; init; }

    [JsonPropertyName("requests_per_s")]
    public double RequestsPerS { get; init; }

    /// <summary>Requests per second that met every target in <see cref="Slo"/> (all successful ones when none is set).</summary>
    [JsonPropertyName("goodput_requests_per_s")]
    public double GoodputRequestsPerS { get; init; }

    /// <summary>Cached prompt tokens over prompt tokens; null when the server does not report cached tokens.</summary>
    [JsonPropertyName("kv_hit_rate")]
    public double? KvHitRate { get; init; }

    [JsonPropertyName("input_tokens_per_s")]
    public double InputTokensPerS { get; init; }

    [JsonPropertyName("errors_by_kind")]
    public SortedDictionary<string, long> ErrorsByKind { get; init; } = new(StringComparer.Ordinal);

    [JsonPropertyName("slo")]
    public SloTargets Slo { get; init; } = new();

    /// <summary>Offered against served rate and the requests in the system over the run (<see cref="RunStability"/>); null in summaries written before it existed.</summary>
    [JsonPropertyName("stability")]
    public RunStability? Stability { get; init; }

    /// <summary>Requests started during warm-up, not counted above.</summary>
    [JsonPropertyName("warmup_requests")]
    public long WarmupRequests { get; init; }
}
