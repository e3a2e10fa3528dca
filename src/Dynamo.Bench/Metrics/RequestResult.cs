namespace Dynamo.Bench.Metrics;

/// <summary>
/// What one request did. Times are milliseconds; <see cref="StartS"/> is seconds from the start of the run.
/// <see cref="ItlMs"/> is the request's mean gap between output tokens, (e2e − TTFT) / (tokens − 1), as AIPerf
/// and vLLM's benchmark define it; null with fewer than two tokens.
/// </summary>
public sealed record RequestResult
{
    public required int Index { get; init; }

    public required double StartS { get; init; }

    public required int InputTokens { get; init; }

    public int OutputTokens { get; init; }

    /// <summary>Prompt tokens the server reported as served from its prefix cache (usage.prompt_tokens_details.cached_tokens); null when it reports none.</summary>
    public int? CachedTokens { get; init; }

    public double? TtftMs { get; init; }

    public double? ItlMs { get; init; }

    /// <summary>
    /// Gaps between consecutive output tokens (tokens − 1 of them; chunks carrying tokens in <c>bench</c>), ms; null
    /// when not recorded. Their percentiles over a run are <c>itl_token_ms</c>.
    /// </summary>
    public IReadOnlyList<float>? TokenGapsMs { get; init; }

    public double E2eMs { get; init; }

    /// <summary>Error kind (<see cref="ErrorKinds"/>), or null for success.</summary>
    public string? Error { get; init; }

    /// <summary>Error detail for the log; not aggregated.</summary>
    public string? ErrorMessage { get; init; }

    /// <summary>Worker that served the request (<c>decode</c> or <c>prefill&gt;decode</c>): replay's simulated ones, or the gateway's <c>x-dynamo-worker</c> headers in <c>bench</c>.</summary>
    public string? Worker { get; init; }

    /// <summary>False for requests started during warm-up: they load the system but are not counted.</summary>
    public bool Measured { get; init; } = true;

    public bool Succeeded => Error is null;
}
