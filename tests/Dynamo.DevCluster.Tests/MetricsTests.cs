using Dynamo.DevCluster.Tests.Infrastructure;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests;

/// <summary>The API server's /metrics: requests by verb, resource and code, objects stored, open watches.</summary>
public sealed class MetricsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Metrics_CountRequestsByVerbResourceAndCode_AndObjectsStored()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "a" } }, "default");
        await t.Client.CoreV1.ReadNamespacedConfigMapAsync("a", "default");
        await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.ReadNamespacedConfigMapAsync("missing", "default"));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var watch = t.Client.CoreV1.WatchListNamespacedConfigMapAsync("default", cancellationToken: cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await watch.MoveNextAsync());

        // Scraped without the token, as Prometheus would.
        using var http = t.Http(authenticated: false);
        var text = await http.GetStringAsync("/metrics");
        await cts.CancelAsync();
        await watch.DisposeAsync();

        Assert.Contains("dynamo_devcluster_apiserver_requests_total{verb=\"create\",resource=\"configmaps\",code=\"201\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("dynamo_devcluster_apiserver_requests_total{verb=\"get\",resource=\"configmaps\",code=\"200\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("dynamo_devcluster_apiserver_requests_total{verb=\"get\",resource=\"configmaps\",code=\"404\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("dynamo_devcluster_apiserver_objects{resource=\"configmaps\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("dynamo_devcluster_apiserver_objects{resource=\"namespaces\"} 4", text, StringComparison.Ordinal);
        Assert.Contains("dynamo_devcluster_apiserver_open_watches{resource=\"configmaps\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("dynamo_devcluster_apiserver_request_duration_seconds_count{verb=\"create\"} 1", text, StringComparison.Ordinal);
    }
}
