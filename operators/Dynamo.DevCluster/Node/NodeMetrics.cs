using Dynamo.DevCluster.Store;
using Dynamo.Runtime.Observability;
using Prometheus;

namespace Dynamo.DevCluster.Node;

/// <summary>
/// The node agent's and controllers' Prometheus metrics, in the API server's registry (served on its /metrics):
/// pods by phase (counted at each scrape), container starts and exits, probe failures, proxied connections and
/// controller passes.
/// </summary>
internal sealed class NodeMetrics
{
    public NodeMetrics(CollectorRegistry registry, ObjectStore store, string nodeName, Func<long> controllerPasses)
    {
        var factory = Metrics.WithCustomRegistry(registry);
        var pods = factory.CreateGauge(MetricNames.DevClusterNodePods, "Pods on the node, by phase.", "phase");
        ContainerStarts = factory.CreateCounter(MetricNames.DevClusterNodeContainerStartsTotal, "Container processes started (first starts and restarts).");
        ContainerExits = factory.CreateCounter(MetricNames.DevClusterNodeContainerExitsTotal, "Container processes that ended, by reason.", "reason");
        ProbeFailures = factory.CreateCounter(MetricNames.DevClusterNodeProbeFailuresTotal, "Probe failures, by probe.", "probe");
        ProxyConnections = factory.CreateCounter(MetricNames.DevClusterNodeProxyConnectionsTotal, "Connections to Service addresses and node ports, by result.", "result");
        var passes = factory.CreateCounter(MetricNames.DevClusterControllerPassesTotal, "Passes of the controllers over the store.");
        var podType = store.Registry.FindKind("v1", "Pod")!;
        registry.AddBeforeCollectCallback(() =>
        {
            var counts = new Dictionary<string, int> { ["Pending"] = 0, ["Running"] = 0, ["Succeeded"] = 0, ["Failed"] = 0 };
            foreach (var pod in store.List(podType, null, p => JsonPaths.GetString(p, "spec.nodeName") == nodeName).Items)
            {
                var phase = JsonPaths.GetString(pod, "status.phase") ?? "Pending";
                counts[phase] = counts.GetValueOrDefault(phase) + 1;
            }
            foreach (var (phase, count) in counts) pods.WithLabels(phase).Set(count);
            var total = controllerPasses();
            if (total > passes.Value) passes.Inc(total - passes.Value);
        });
    }

    public Counter ContainerStarts { get; }
    public Counter ContainerExits { get; }
    public Counter ProbeFailures { get; }
    public Counter ProxyConnections { get; }
}
