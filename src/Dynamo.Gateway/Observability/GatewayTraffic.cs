namespace Dynamo.Gateway.Observability;

/// <summary>
/// The gateway's traffic counters since it started, summed over models: what the planner reads in process
/// (<c>dynamo serve --planner</c>). The same figures as <c>/metrics</c> (<c>dynamo_frontend_*</c>), without the text.
/// </summary>
/// <param name="FinishedRequests">Requests answered, whatever the outcome.</param>
/// <param name="InflightRequests">Requests being served now.</param>
/// <param name="QueuedRequests">Requests waiting for a concurrency slot now.</param>
/// <param name="InputTokensSum">Prompt tokens of finished streams.</param>
/// <param name="InputTokensCount">Finished streams counted in <paramref name="InputTokensSum"/>.</param>
/// <param name="OutputTokensSum">Generated tokens of finished streams.</param>
/// <param name="OutputTokensCount">Finished streams counted in <paramref name="OutputTokensSum"/>.</param>
/// <param name="TtftSecondsSum">Sum of times to first token, s.</param>
/// <param name="TtftCount">Streams with a first token.</param>
/// <param name="ItlSecondsSum">Sum of gaps between tokens, s.</param>
/// <param name="ItlCount">Gaps counted.</param>
/// <param name="CachedTokens">Prompt tokens served from workers' prefix caches.</param>
public sealed record GatewayTraffic(
    double FinishedRequests,
    double InflightRequests,
    double QueuedRequests,
    double InputTokensSum,
    double InputTokensCount,
    double OutputTokensSum,
    double OutputTokensCount,
    double TtftSecondsSum,
    double TtftCount,
    double ItlSecondsSum,
    double ItlCount,
    double CachedTokens);
