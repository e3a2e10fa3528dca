using Dynamo.Runtime.Observability;

namespace Dynamo.Planner.Observers;

/// <summary>
/// The frontends' traffic, scraped from their <c>/metrics</c> (what <c>dynamo planner</c> reads between processes).
/// Every frontend must answer: a partial sum would look like a drop in traffic, so one that does not fails the reading
/// and the planner holds.
/// </summary>
public sealed class FrontendMetricsSource : ITrafficSource, IDisposable
{
    private readonly IReadOnlyList<Uri> _endpoints;
    private readonly HttpClient _http;

    /// <param name="endpoints">Each frontend's metrics URL, e.g. <c>http://10.0.0.5:8000/metrics</c>.</param>
    /// <param name="timeout">How long a scrape may take.</param>
    public FrontendMetricsSource(IReadOnlyList<Uri> endpoints, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        if (endpoints.Count == 0)
        {
            throw new ArgumentException("At least one frontend metrics URL is needed.", nameof(endpoints));
        }

        _endpoints = endpoints;
        _http = new HttpClient { Timeout = timeout };
    }

    public IReadOnlyList<Uri> Endpoints => _endpoints;

    public async Task<TrafficTotals> ReadAsync(CancellationToken cancellationToken)
    {
        var readings = await Task.WhenAll(_endpoints.Select(endpoint => ReadOneAsync(endpoint, cancellationToken))).ConfigureAwait(false);
        return readings.Aggregate(TrafficTotals.Zero, (sum, one) => sum + one);
    }

    public void Dispose() => _http.Dispose();

    /// <summary>The totals in one exposition text (one frontend's <c>/metrics</c>).</summary>
    public static TrafficTotals Parse(string text)
    {
        var s = PrometheusText.SumByName(text);
        double Get(string name) => s.GetValueOrDefault(name);
        return new TrafficTotals(
            Get(MetricNames.FrontendRequestsTotal),
            Get(MetricNames.FrontendInflightRequests),
            Get(MetricNames.FrontendQueuedRequests),
            Get(MetricNames.FrontendInputSequenceTokens + "_sum"),
            Get(MetricNames.FrontendInputSequenceTokens + "_count"),
            Get(MetricNames.FrontendOutputSequenceTokens + "_sum"),
            Get(MetricNames.FrontendOutputSequenceTokens + "_count"),
            Get(MetricNames.FrontendTimeToFirstToken + "_sum"),
            Get(MetricNames.FrontendTimeToFirstToken + "_count"),
            Get(MetricNames.FrontendInterTokenLatency + "_sum"),
            Get(MetricNames.FrontendInterTokenLatency + "_count"),
            Get(MetricNames.FrontendCachedTokensTotal));
    }

    private async Task<TrafficTotals> ReadOneAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            using var response = await _http.GetAsync(endpoint, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"{endpoint} answered HTTP {(int)response.StatusCode}");
            }

            text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new HttpRequestException($"cannot scrape frontend metrics at {endpoint}: {ex.Message}", ex);
        }

        return Parse(text);
    }
}
