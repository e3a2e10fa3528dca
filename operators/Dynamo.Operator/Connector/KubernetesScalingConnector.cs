using System.Text.Json.Nodes;
using Dynamo.Contracts;
using Dynamo.Operator.Api;
using Dynamo.Operator.Client;
using Dynamo.Operator.Graph;
using Dynamo.Operator.Reconcile;
using Dynamo.Planner;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Dynamo.Operator.Connector;

/// <summary>
/// The planner's <c>kubernetes</c> connector: the planner runs as a component of a DynamoGraphDeployment and sizes
/// its worker pools through the graph's scaling adapters. A pool's desired count is its adapter's spec.replicas
/// (times the member's ratio in a scaling group), its actual and ready counts the Deployment's status, so a change
/// stays pending (the loop holds) until the operator has scaled the Deployment and its pods are ready. Targets are
/// written to the adapter's scale subresource, as <c>kubectl scale</c> does; where the adapter or its scale
/// subresource is missing, the graph's own replicas are patched instead (the operator copies them into the adapter).
/// </summary>
public sealed partial class KubernetesScalingConnector(KubeApiClient api, string ns, string graph, ILogger logger) : IScalingConnector
{
    public string Name => "kubernetes";

    public string Namespace => ns;

    public string Graph => graph;

    public async Task<IReadOnlyList<PoolState>> GetPoolsAsync(CancellationToken cancellationToken)
    {
        var (topology, adapters) = await ReadAsync(cancellationToken).ConfigureAwait(false);
        var deployments = (await api.ListAsync(KubeResource.Deployments, ns, $"{GraphApi.GraphLabel}={graph}", cancellationToken).ConfigureAwait(false)).Items
            .Select(GraphReconciler.Read<V1Deployment>)
            .ToDictionary(d => d.Metadata.Name);
        var effective = GraphReconciler.EffectiveReplicas(topology, adapters);
        var pools = new List<PoolState>();
        foreach (var (component, role) in Pools(topology))
        {
            deployments.TryGetValue(topology.ObjectName(component.Name), out var deployment);
            var desired = topology.ReplicasOf(component, effective);
            // A Deployment the operator has not yet scaled to the adapter's count still reports the old one: pending.
            var actual = deployment?.Status?.Replicas ?? 0;
            var ready = deployment?.Status?.ReadyReplicas ?? 0;
            pools.Add(new PoolState(role, desired, actual, Math.Min(ready, actual)));
        }

        if (pools.Count == 0)
        {
            throw new InvalidOperationException($"graph {ns}/{graph} has no worker, prefill or decode component for the planner to size");
        }

        return pools;
    }

    public async Task SetTargetsAsync(ScalingTargets targets, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var (topology, adapters) = await ReadAsync(cancellationToken).ConfigureAwait(false);
        var effective = GraphReconciler.EffectiveReplicas(topology, adapters);
        var byRole = Pools(topology).ToDictionary(p => p.Role, p => p.Component);
        var units = new Dictionary<ScaleTarget, int>();
        foreach (var (role, workers) in targets.Workers)
        {
            if (!byRole.TryGetValue(role, out var component) || topology.TargetOf(component.Name) is not { } target)
            {
                throw new InvalidOperationException($"graph {ns}/{graph} has no scalable {PoolNames.Of(role)} pool");
            }

            // In a scaling group the group grows by whole units: enough for the largest member's need.
            var needed = (int)Math.Ceiling(Math.Max(0, workers) / (double)target.RatioOf(component.Name));
            units[target] = target.Group is null ? needed : Math.Max(units.GetValueOrDefault(target, 0), needed);
        }

        foreach (var (target, count) in units)
        {
            if (effective.GetValueOrDefault(target.AdapterName, target.GraphReplicas) == count)
            {
                continue;
            }

            LogScaling(logger, ns, target.AdapterName, effective.GetValueOrDefault(target.AdapterName), count, targets.Reason);
            try
            {
                await api.PatchAsync(KubeResource.Adapters, ns, target.AdapterName, new JsonObject { ["spec"] = new JsonObject { ["replicas"] = count } }, PatchKind.Merge, "scale", cancellationToken).ConfigureAwait(false);
            }
            catch (KubeApiException error) when (error.IsNotFound)
            {
                LogFallback(logger, ns, target.AdapterName, graph);
                await PatchGraphAsync(topology, target, count, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The fallback: the graph's own count of the component or group, guarded by a test of its name at that index.</summary>
    private async Task PatchGraphAsync(GraphTopology topology, ScaleTarget target, int count, CancellationToken cancellationToken)
    {
        var spec = topology.Graph.Spec;
        var (list, index, name) = target.Group is not null
            ? ("scalingGroups", spec.ScalingGroups!.FindIndex(g => g.Name == target.Group), target.Group)
            : ("components", spec.Components.FindIndex(c => c.Name == target.Component), target.Component!);
        var current = target.Group is not null ? spec.ScalingGroups![index].Replicas : spec.Components[index].Replicas;
        await api.PatchAsync(KubeResource.Graphs, ns, graph, new JsonArray(
            new JsonObject { ["op"] = "test", ["path"] = $"/spec/{list}/{index}/name", ["value"] = name },
            new JsonObject { ["op"] = current is null ? "add" : "replace", ["path"] = $"/spec/{list}/{index}/replicas", ["value"] = count }), PatchKind.Json, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private async Task<(GraphTopology Topology, Dictionary<string, JsonObject> Adapters)> ReadAsync(CancellationToken cancellationToken)
    {
        var obj = await api.GetAsync(KubeResource.Graphs, ns, graph, cancellationToken: cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"DynamoGraphDeployment {ns}/{graph} does not exist (--graph, --namespace)");
        var topology = new GraphTopology(GraphReconciler.Read<DynamoGraphDeployment>(obj));
        var adapters = (await api.ListAsync(KubeResource.Adapters, ns, $"{GraphApi.GraphLabel}={graph}", cancellationToken).ConfigureAwait(false)).Items
            .ToDictionary(a => a["metadata"]!["name"]!.GetValue<string>());
        return (topology, adapters);
    }

    private static IEnumerable<(GraphComponent Component, WorkerRole Role)> Pools(GraphTopology topology)
    {
        foreach (var component in topology.Graph.Spec.Components)
        {
            WorkerRole? role = component.Type switch
            {
                ComponentType.Worker => WorkerRole.Aggregated,
                ComponentType.Prefill => WorkerRole.Prefill,
                ComponentType.Decode => WorkerRole.Decode,
                _ => null,
            };
            if (role is { } r)
            {
                yield return (component, r);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Scaling {Namespace}/{Adapter} {From}→{To}: {Reason}")]
    private static partial void LogScaling(ILogger logger, string @namespace, string adapter, int from, int to, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Namespace}/{Adapter} has no scale subresource (or does not exist); patching the graph {Graph}'s replicas instead")]
    private static partial void LogFallback(ILogger logger, string @namespace, string adapter, string graph);
}
