namespace Dynamo.Bench.Metrics;

/// <summary>
/// What an ITL target (<c>itl_ms</c>, <c>--slo-itl-ms</c>) is judged on. <see cref="TokenP90"/> (the default): the
/// 90th percentile of the gaps between consecutive output tokens, what a user watching the stream feels; a request
/// meets it when 90 % of its own gaps are within the target, and a sweep point when 90 % of all its gaps are.
/// <see cref="RequestMean"/>: each request's mean gap, (e2e − TTFT) ÷ (tokens − 1), as AIPerf, vLLM's benchmark and
/// the planner's decode profile define ITL; it averages a long stall (a prefill sharing the step) over the whole reply.
/// </summary>
public static class ItlMetrics
{
    public const string TokenP90 = "token_p90";

    public const string RequestMean = "request_mean";

    public const string Default = TokenP90;

    public static IReadOnlyList<string> All { get; } = [TokenP90, RequestMean];

    /// <summary>Null when <paramref name="value"/> is one of <see cref="All"/> (or null: the default), else a message naming the key, the value and the choices.</summary>
    public static string? Error(string? value, string key) =>
        value is null || All.Contains(value, StringComparer.Ordinal)
            ? null
            : $"{key} must be {string.Join(" or ", All)} (got '{value}').";
}
