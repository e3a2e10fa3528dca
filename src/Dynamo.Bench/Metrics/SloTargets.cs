using System.Text.Json.Serialization;

namespace Dynamo.Bench.Metrics;

/// <summary>Latency targets for goodput: a request counts when it met every target that is set.</summary>
public sealed record SloTargets
{
    [JsonPropertyName("ttft_ms")]
    public double? TtftMs { get; init; }

    [JsonPropertyName("itl_ms")]
    public double? ItlMs { get; init; }

    [JsonPropertyName("e2e_ms")]
    public double? E2eMs { get; init; }

    public bool Met(RequestResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return r.Succeeded
            && (TtftMs is not { } ttft || (r.TtftMs is { } t && t <= ttft))
            && (ItlMs is not { } itl || r.ItlMs is not { } i || i <= itl)
            && (E2eMs is not { } e2e || r.E2eMs <= e2e);
    }
}
