using System.Globalization;
using Dynamo.DevCluster.Store;
using Dynamo.Runtime.Observability;
using Prometheus;

namespace Dynamo.DevCluster.Observability;

/// <summary>
/// The API server's Prometheus metrics, in a registry of its own (tests and the dev cluster may run several servers
/// in one process): requests by verb, resource and code, their latency, open watches, and at each scrape the
/// objects stored per resource and the current resourceVersion.
/// </summary>
internal sealed class ApiServerMetrics
{
    private static readonly double[] LatencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    public ApiServerMetrics(ObjectStore store)
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        Requests = factory.CreateCounter(MetricNames.DevClusterApiRequestsTotal, "API requests answered, by verb, resource and HTTP code.", "verb", "resource", "code");
        Duration = factory.CreateHistogram(MetricNames.DevClusterApiRequestDuration, "Time to answer a non-watch API request.",
            new HistogramConfiguration { LabelNames = ["verb"], Buckets = LatencyBuckets });
        OpenWatches = factory.CreateGauge(MetricNames.DevClusterOpenWatches, "Watch streams open, by resource.", "resource");
        var objects = factory.CreateGauge(MetricNames.DevClusterObjects, "Objects stored, by resource.", "resource");
        var rv = factory.CreateGauge(MetricNames.DevClusterResourceVersion, "The store's current resourceVersion.");
        Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var (resource, count) in store.Counts()) objects.WithLabels(resource).Set(count);
            rv.Set(store.CurrentResourceVersion);
        });
    }

    public CollectorRegistry Registry { get; }
    public Counter Requests { get; }
    public Histogram Duration { get; }
    public Gauge OpenWatches { get; }

    public void Record(string verb, string resource, int code, TimeSpan? elapsed)
    {
        Requests.WithLabels(verb, resource, code.ToString(CultureInfo.InvariantCulture)).Inc();
        if (elapsed is { } e) Duration.WithLabels(verb).Observe(e.TotalSeconds);
    }
}
