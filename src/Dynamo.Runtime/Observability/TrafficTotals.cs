namespace Dynamo.Runtime.Observability;

/// <summary>
/// A gateway's traffic counters since it started, summed over models (and, added up, over gateways): what the planner
/// reads each interval and subtracts from the previous reading, in process or from <c>/metrics</c>. The names follow the <c>dynamo_frontend_*</c> metrics they come from.
/// </summary>
/// <param name="FinishedRequests">Requests answered, whatever the outcome (<c>dynamo_frontend_requests_total</c>).</param>
/// <param name="InflightRequests">Requests being served now (<c>dynamo_frontend_inflight_requests</c>).</param>
/// <param name="QueuedRequests">Requests waiting for a concurrency slot now (<c>dynamo_frontend_queued_requests</c>).</param>
/// <param name="InputTokensSum">Prompt tokens of finished streams (<c>dynamo_frontend_input_sequence_tokens</c> sum).</param>
/// <param name="InputTokensCount">Finished streams counted there.</param>
/// <param name="OutputTokensSum">Generated tokens of finished streams.</param>
/// <param name="OutputTokensCount">Finished streams counted there.</param>
/// <param name="TtftSecondsSum">Sum of times to first token, s.</param>
/// <param name="TtftCount">Streams with a first token.</param>
/// <param name="ItlSecondsSum">Sum of gaps between tokens, s.</param>
/// <param name="ItlCount">Gaps counted.</param>
/// <param name="CachedTokens">Prompt tokens served from workers' prefix caches.</param>
public sealed record TrafficTotals(
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
    double CachedTokens)
{
    public static TrafficTotals Zero { get; } = new(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    public static TrafficTotals operator +(TrafficTotals a, TrafficTotals b) => new(
        a.FinishedRequests + b.FinishedRequests,
        a.InflightRequests + b.InflightRequests,
        a.QueuedRequests + b.QueuedRequests,
        a.InputTokensSum + b.InputTokensSum,
        a.InputTokensCount + b.InputTokensCount,
        a.OutputTokensSum + b.OutputTokensSum,
        a.OutputTokensCount + b.OutputTokensCount,
        a.TtftSecondsSum + b.TtftSecondsSum,
        a.TtftCount + b.TtftCount,
        a.ItlSecondsSum + b.ItlSecondsSum,
        a.ItlCount + b.ItlCount,
        a.CachedTokens + b.CachedTokens);

    /// <summary>
    /// True when a counter went down since <paramref name="earlier"/>: a gateway restarted (or one left), so the
    /// difference would be meaningless and this reading counts from zero.
    /// </summary>
    public bool WentBackFrom(TrafficTotals earlier) =>
        FinishedRequests < earlier.FinishedRequests || InputTokensCount < earlier.InputTokensCount || OutputTokensCount < earlier.OutputTokensCount
        || TtftCount < earlier.TtftCount || ItlCount < earlier.ItlCount || CachedTokens < earlier.CachedTokens;
}
