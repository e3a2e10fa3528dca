using System.Text.Json.Serialization;

namespace Dynamo.Bench.Metrics;

/// <summary>Percentiles of one latency, in milliseconds (HdrHistogram, 3 significant digits).</summary>
public sealed record LatencySummary
{
    [JsonPropertyName("p50")]
    public double P50 { get; init; }

    [JsonPropertyName("p90")]
    public double P90 { get; init; }

    [JsonPropertyName("p99")]
    public double P99 { get; init; }

    [JsonPropertyName("mean")]
    public double Mean { get; init; }

    [JsonPropertyName("min")]
    public double Min { get; init; }

    [JsonPropertyName("max")]
    public double Max { get; init; }

    [JsonPropertyName("count")]
    public long Count { get; init; }
}
