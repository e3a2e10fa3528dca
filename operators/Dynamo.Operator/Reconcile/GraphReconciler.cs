using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Dynamo.Operator.Api;
using Dynamo.Operator.Client;
using Dynamo.Operator.Controller;
using Dynamo.Operator.Graph;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Dynamo.Operator.Reconcile;

/// <summary>
/// Converges one DynamoGraphDeployment (level-triggered: it reads the graph and what exists, never the event that
/// woke it): finalizer, semantic validation, scaling adapters (created with the graph's counts; afterwards their
/// spec.replicas rules, and a new graph count is copied in once), the Secret (generated once), the ConfigMap, NATS,
/// Deployments and Services (created, or replaced with their resourceVersion when they differ, retried on 409),
/// objects of removed components pruned, then the status of the adapters and of the graph from observation.
/// </summary>
public sealed partial class GraphReconciler
{
    private const int ConflictRetries = 5;
    private readonly KubeApiClient _api;
    private readonly EventRecorder _events;
    private readonly OperatorMetrics? _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public GraphReconciler(KubeApiClient api, EventRecorder events, ILogger logger, OperatorMetrics? metrics = null, TimeProvider? time = null)
    {
        _api = api;
        _events = events;
        _logger = logger;
        _metrics = metrics;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Status writes that hit a 409 and were retried (for tests and logs).</summary>
    public int ConflictsRetried => Volatile.Read(ref _conflicts);

    private int _conflicts;

    public async Task<ReconcileOutcome> ReconcileAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var obj = await _api.GetAsync(KubeResource.Graphs, ns, name, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (obj is null)
        {
            return ReconcileOutcome.Gone;
        }

        var graph = Read<DynamoGraphDeployment>(obj);
        if (graph.Metadata.DeletionTimestamp is not null)
        {
            if (graph.Metadata.Finalizers?.Contains(GraphApi.Finalizer) == true)
            {
                await SetFinalizerAsync(obj, add: false, cancellationToken).ConfigureAwait(false);
                await _events.RecordAsync(obj, EventRecorder.Normal, "Deleting", $"Graph {name} is being deleted; its objects go with it (owner references)", cancellationToken).ConfigureAwait(false);
            }

            return ReconcileOutcome.Deleted;
        }

        if (graph.Metadata.Finalizers?.Contains(GraphApi.Finalizer) != true)
        {
            obj = await SetFinalizerAsync(obj, add: true, cancellationToken).ConfigureAwait(false);
            graph = Read<DynamoGraphDeployment>(obj);
        }

        var topology = new GraphTopology(graph);
        var selector = $"{GraphApi.GraphLabel}={name}";
        var adapters = (await _api.ListAsync(KubeResource.Adapters, ns, selector, cancellationToken).ConfigureAwait(false)).Items
            .ToDictionary(a => a["metadata"]!["name"]!.GetValue<string>());
        var effective = EffectiveReplicas(topology, adapters);
        var problems = GraphValidator.Validate(graph, effective);
        if (problems.Count > 0)
        {
            await WriteInvalidStatusAsync(obj, graph, problems, cancellationToken).ConfigureAwait(false);
            return ReconcileOutcome.Invalid;
        }

        var manifests = ManifestBuilder.Build(graph, effective, NewSecret());
        foreach (var adapter in manifests.Adapters)
        {
            await ApplyAdapterAsync(obj, topology, adapter, adapters.GetValueOrDefault(adapter.Metadata.Name), cancellationToken).ConfigureAwait(false);
        }

        if (await _api.GetAsync(KubeResource.Secrets, ns, topology.SecretName, cancellationToken: cancellationToken).ConfigureAwait(false) is null)
        {
            await CreateAsync(obj, KubeResource.Secrets, ManifestBuilder.ToJson(manifests.Secret), cancellationToken).ConfigureAwait(false);
        }

        var wanted = new List<(KubeResource Resource, JsonObject Object)> { (KubeResource.ConfigMaps, ManifestBuilder.ToJson(manifests.ConfigMap)) };
        if (manifests.NatsService is not null) wanted.Add((KubeResource.Services, ManifestBuilder.ToJson(manifests.NatsService)));
        if (manifests.NatsStatefulSet is not null) wanted.Add((KubeResource.StatefulSets, ManifestBuilder.ToJson(manifests.NatsStatefulSet)));
        // Services first: the planner's pods name the frontend's Service, and a name must resolve when they start.
        wanted.AddRange(manifests.Services.Select(s => (KubeResource.Services, ManifestBuilder.ToJson(s))));
        wanted.AddRange(manifests.Deployments.Select(d => (KubeResource.Deployments, ManifestBuilder.ToJson(d))));
        foreach (var (resource, desired) in wanted)
        {
            await ApplyAsync(obj, resource, desired, cancellationToken).ConfigureAwait(false);
        }

        var keep = wanted.Select(w => (w.Resource, w.Object["metadata"]!["name"]!.GetValue<string>()))
            .Concat(manifests.Adapters.Select(a => (KubeResource.Adapters, a.Metadata.Name)))
            .ToHashSet();
        foreach (var resource in new[] { KubeResource.Deployments, KubeResource.Services, KubeResource.StatefulSets, KubeResource.Adapters })
        {
            await PruneAsync(obj, resource, selector, keep, cancellationToken).ConfigureAwait(false);
        }

        await WriteStatusAsync(obj, graph, topology, effective, cancellationToken).ConfigureAwait(false);
        return ReconcileOutcome.Applied;
    }

    /// <summary>
    /// Each adapter's count: its spec.replicas, unless the graph's own count changed since it was last copied
    /// (the annotation differs), in which case the graph's new count (written to the adapter next).
    /// </summary>
    public static Dictionary<string, int> EffectiveReplicas(GraphTopology topology, IReadOnlyDictionary<string, JsonObject> adapters)
    {
        var effective = new Dictionary<string, int>();
        foreach (var target in topology.Targets)
        {
            if (adapters.TryGetValue(target.AdapterName, out var adapter)
                && adapter["metadata"]?["annotations"]?[GraphApi.GraphReplicasAnnotation]?.GetValue<string>() == $"{target.GraphReplicas}"
                && adapter["spec"]?["replicas"]?.GetValue<int>() is { } replicas)
            {
                effective[target.AdapterName] = replicas;
            }
            else
            {
                effective[target.AdapterName] = target.GraphReplicas;
            }
        }

        return effective;
    }

    private async Task ApplyAdapterAsync(JsonObject graph, GraphTopology topology, DynamoGraphDeploymentScalingAdapter desired, JsonObject? existing, CancellationToken cancellationToken)
    {
        var ns = topology.Namespace;
        var name = desired.Metadata.Name;
        var declared = desired.Spec.Replicas;
        if (existing is null)
        {
            await CreateAsync(graph, KubeResource.Adapters, ManifestBuilder.ToJson(desired), cancellationToken).ConfigureAwait(false);
            return;
        }

        if (existing["metadata"]?["annotations"]?[GraphApi.GraphReplicasAnnotation]?.GetValue<string>() == $"{declared}")
        {
            return;
        }

        var previous = existing["spec"]?["replicas"]?.GetValue<int>();
        await _api.PatchAsync(KubeResource.Adapters, ns, name, new JsonObject
        {
            ["metadata"] = new JsonObject { ["annotations"] = new JsonObject { [GraphApi.GraphReplicasAnnotation] = $"{declared}" } },
            ["spec"] = new JsonObject { ["replicas"] = declared },
        }, PatchKind.Merge, cancellationToken: cancellationToken).ConfigureAwait(false);
        _metrics?.ObjectWrites.WithLabels(GraphApi.AdapterKind, "update").Inc();
        await _events.RecordAsync(graph, EventRecorder.Normal, "ScaledFromGraph",
            $"{GraphApi.AdapterKind} {name}: replicas {previous}→{declared}, copied from the graph's spec (the adapter rules again from now on)", cancellationToken).ConfigureAwait(false);
    }

    private async Task CreateAsync(JsonObject graph, KubeResource resource, JsonObject desired, CancellationToken cancellationToken)
    {
        var ns = desired["metadata"]!["namespace"]!.GetValue<string>();
        var name = desired["metadata"]!["name"]!.GetValue<string>();
        try
        {
            await _api.CreateAsync(resource, ns, desired, cancellationToken).ConfigureAwait(false);
        }
        catch (KubeApiException error) when (error.IsConflict)
        {
            // Created meanwhile (a previous reconcile whose response was lost): the next pass compares it.
            return;
        }

        _metrics?.ObjectWrites.WithLabels(resource.Kind, "create").Inc();
        LogWrote(_logger, "Created", resource.Kind, ns, name);
        await _events.RecordAsync(graph, EventRecorder.Normal, "Created", $"Created {resource.Kind} {name}", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates the object, or replaces it (with its resourceVersion, retried on 409) when it lacks something wanted.</summary>
    private async Task ApplyAsync(JsonObject graph, KubeResource resource, JsonObject desired, CancellationToken cancellationToken)
    {
        var ns = desired["metadata"]!["namespace"]!.GetValue<string>();
        var name = desired["metadata"]!["name"]!.GetValue<string>();
        for (var attempt = 1; ; attempt++)
        {
            var existing = await _api.GetAsync(resource, ns, name, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (existing is null)
            {
                await CreateAsync(graph, resource, desired, cancellationToken).ConfigureAwait(false);
                return;
            }

            var merged = Merge(resource, existing, desired);
            if (JsonSubset.Contains(existing["metadata"], merged["metadata"])
                && JsonSubset.Contains(existing["spec"], merged["spec"])
                && JsonSubset.Contains(existing["data"], merged["data"])
                && SameKeys(existing["spec"], merged["spec"]))
            {
                return;
            }

            try
            {
                await _api.ReplaceAsync(resource, ns, name, merged, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (KubeApiException error) when (error.IsConflict && attempt < ConflictRetries)
            {
                Interlocked.Increment(ref _conflicts);
                LogConflict(_logger, resource.Kind, ns, name, attempt);
                continue;
            }

            _metrics?.ObjectWrites.WithLabels(resource.Kind, "update").Inc();
            LogWrote(_logger, "Updated", resource.Kind, ns, name);
            await _events.RecordAsync(graph, EventRecorder.Normal, "Updated", $"Updated {resource.Kind} {name} to match the graph's spec", cancellationToken).ConfigureAwait(false);
            return;
        }
    }

    /// <summary>
    /// The object to PUT: the wanted one, keeping the server's metadata (uid, resourceVersion, others' labels and
    /// annotations) and the fields the server assigns (a Service's cluster IP and automatic node ports).
    /// </summary>
    private static JsonObject Merge(KubeResource resource, JsonObject existing, JsonObject desired)
    {
        var merged = (JsonObject)desired.DeepClone();
        var meta = (JsonObject)existing["metadata"]!.DeepClone();
        foreach (var field in new[] { "labels", "annotations" })
        {
            var combined = meta[field] as JsonObject ?? [];
            foreach (var (key, value) in desired["metadata"]?[field] as JsonObject ?? [])
            {
                combined[key] = value?.DeepClone();
            }

            if (combined.Count > 0) meta[field] = combined;
        }

        meta["ownerReferences"] = desired["metadata"]?["ownerReferences"]?.DeepClone();
        merged["metadata"] = meta;
        if (resource == KubeResource.Services && existing["spec"] is JsonObject existingSpec && merged["spec"] is JsonObject spec)
        {
            foreach (var field in new[] { "clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "sessionAffinity", "internalTrafficPolicy" })
            {
                if (existingSpec[field] is { } value && spec[field] is null) spec[field] = value.DeepClone();
            }

            foreach (var port in (spec["ports"] as JsonArray ?? []).OfType<JsonObject>().Where(p => p["nodePort"] is null))
            {
                var same = (existingSpec["ports"] as JsonArray ?? []).OfType<JsonObject>().FirstOrDefault(p => p["name"]?.ToString() == port["name"]?.ToString());
                if (same?["nodePort"] is { } nodePort && spec["type"]?.ToString() == "NodePort") port["nodePort"] = nodePort.DeepClone();
            }
        }

        return merged;
    }

    /// <summary>Keys the operator sets at the top of spec must not have extra ones it removed (e.g. a component's resources dropped).</summary>
    private static bool SameKeys(JsonNode? existing, JsonNode? desired)
    {
        var containers = (JsonNode? spec) => spec?["template"]?["spec"]?["containers"] as JsonArray;
        var have = containers(existing);
        var want = containers(desired);
        if (have is null || want is null) return true;
        return have.Count == want.Count && have.Zip(want).All(p =>
            HasContent(p.First?["resources"]) == HasContent(p.Second?["resources"])
            && ((p.First?["env"] as JsonArray)?.Count ?? 0) == ((p.Second?["env"] as JsonArray)?.Count ?? 0)
            && ((p.First?["args"] as JsonArray)?.Count ?? 0) == ((p.Second?["args"] as JsonArray)?.Count ?? 0));
    }

    /// <summary>A value that says something: not absent, not an empty object (a server defaults <c>resources: {}</c>).</summary>
    private static bool HasContent(JsonNode? node) => node is JsonObject obj ? obj.Any(p => HasContent(p.Value)) : node is not null;

    private async Task PruneAsync(JsonObject graph, KubeResource resource, string selector, HashSet<(KubeResource, string)> keep, CancellationToken cancellationToken)
    {
        var uid = graph["metadata"]?["uid"]?.GetValue<string>();
        var ns = graph["metadata"]!["namespace"]!.GetValue<string>();
        foreach (var item in (await _api.ListAsync(resource, ns, selector, cancellationToken).ConfigureAwait(false)).Items)
        {
            var name = item["metadata"]!["name"]!.GetValue<string>();
            var owned = (item["metadata"]?["ownerReferences"] as JsonArray ?? []).Any(o => o?["uid"]?.GetValue<string>() == uid);
            if (!owned || keep.Contains((resource, name)))
            {
                continue;
            }

            if (await _api.DeleteAsync(resource, ns, name, cancellationToken).ConfigureAwait(false))
            {
                _metrics?.ObjectWrites.WithLabels(resource.Kind, "delete").Inc();
                LogWrote(_logger, "Deleted", resource.Kind, ns, name);
                await _events.RecordAsync(graph, EventRecorder.Normal, "Deleted", $"Deleted {resource.Kind} {name}: no longer in the graph's spec", cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task WriteStatusAsync(JsonObject graphObject, DynamoGraphDeployment graph, GraphTopology topology, IReadOnlyDictionary<string, int> effective, CancellationToken cancellationToken)
    {
        var ns = topology.Namespace;
        var deployments = (await _api.ListAsync(KubeResource.Deployments, ns, $"{GraphApi.GraphLabel}={topology.Name}", cancellationToken).ConfigureAwait(false)).Items
            .Select(Read<V1Deployment>)
            .ToDictionary(d => d.Metadata.Name);
        var components = new List<ComponentStatus>();
        var notReady = new List<string>();
        var rolling = false;
        var counts = new Dictionary<string, (int Current, int Ready)>();
        foreach (var component in graph.Spec.Components)
        {
            var wantedPods = topology.ReplicasOf(component, effective);
            deployments.TryGetValue(topology.ObjectName(component.Name), out var deployment);
            var current = deployment?.Status?.Replicas ?? 0;
            var ready = deployment?.Status?.ReadyReplicas ?? 0;
            var updated = deployment?.Status?.UpdatedReplicas ?? 0;
            var observed = deployment is not null && (deployment.Status?.ObservedGeneration ?? 0) >= (deployment.Metadata.Generation ?? 0);
            counts[component.Name] = (current, ready);
            components.Add(new ComponentStatus { Name = component.Name, Replicas = wantedPods, ReadyReplicas = ready, UpdatedReplicas = updated });
            if (!observed || updated < wantedPods || current != wantedPods || ready < wantedPods)
            {
                rolling = true;
            }

            var target = topology.TargetOf(component.Name);
            if (target?.Group is null && ready < wantedPods)
            {
                notReady.Add($"{component.Name} {ready}/{wantedPods} ready");
            }
        }

        foreach (var target in topology.Targets)
        {
            var units = target.Members.Select(m => counts.GetValueOrDefault(m.Component)).ToList();
            var currentUnits = target.Members.Select((m, i) => units[i].Current / m.Ratio).DefaultIfEmpty(0).Min();
            var readyUnits = target.Members.Select((m, i) => units[i].Ready / m.Ratio).DefaultIfEmpty(0).Min();
            if (target.Group is not null && readyUnits < Math.Max(target.MinAvailable, effective[target.AdapterName] > 0 ? 1 : 0))
            {
                notReady.Add($"scaling group {target.Group} {readyUnits} complete units ready, {Math.Max(target.MinAvailable, 1)} needed (minAvailable)");
            }

            await WriteAdapterStatusAsync(ns, target.AdapterName, new ScalingAdapterStatus { Replicas = currentUnits, ReadyReplicas = readyUnits, Selector = topology.SelectorOf(target) }, cancellationToken).ConfigureAwait(false);
        }

        var generation = graph.Metadata.Generation ?? 0;
        var allReady = notReady.Count == 0;
        var conditions = new List<V1Condition>
        {
            Condition(GraphState.Ready, allReady, allReady ? "AllComponentsReady" : "ComponentsNotReady",
                allReady ? $"All {components.Count} components have their pods ready" : $"Waiting: {string.Join("; ", notReady)}", generation),
            Condition(GraphState.Progressing, rolling, rolling ? "RollingOut" : "Stable",
                rolling ? "Deployments are being created, scaled or updated" : "Every Deployment matches the spec", generation),
            Condition(GraphState.Degraded, false, "Reconciled", "The spec is valid and applied", generation),
        };
        await PutStatusAsync(graphObject, new DynamoGraphDeploymentStatus
        {
            State = allReady ? GraphState.Successful : GraphState.Pending,
            ObservedGeneration = generation,
            Conditions = conditions,
            Components = components,
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task WriteAdapterStatusAsync(string ns, string name, ScalingAdapterStatus status, CancellationToken cancellationToken)
    {
        var existing = await _api.GetAsync(KubeResource.Adapters, ns, name, cancellationToken: cancellationToken).ConfigureAwait(false);
        var wanted = ManifestBuilder.ToJson(status);
        if (existing is null || JsonSubset.Contains(existing["status"], wanted))
        {
            return;
        }

        await _api.PatchAsync(KubeResource.Adapters, ns, name, new JsonObject { ["status"] = wanted }, PatchKind.Merge, "status", cancellationToken).ConfigureAwait(false);
    }

    private async Task WriteInvalidStatusAsync(JsonObject graphObject, DynamoGraphDeployment graph, IReadOnlyList<GraphProblem> problems, CancellationToken cancellationToken)
    {
        var message = string.Join("; ", problems);
        var generation = graph.Metadata.Generation ?? 0;
        var previous = graph.Status?.Conditions?.FirstOrDefault(c => c.Type == GraphState.Degraded);
        var status = new DynamoGraphDeploymentStatus
        {
            State = GraphState.Failed,
            ObservedGeneration = generation,
            Conditions =
            [
                Condition(GraphState.Ready, false, "InvalidSpec", "The spec is invalid; see the Degraded condition", generation),
                Condition(GraphState.Progressing, false, "InvalidSpec", "Nothing is applied until the spec is fixed", generation),
                Condition(GraphState.Degraded, true, "InvalidSpec", message, generation),
            ],
            Components = graph.Status?.Components,
        };
        await PutStatusAsync(graphObject, status, cancellationToken).ConfigureAwait(false);
        if (previous?.Message != message || previous?.Status != "True")
        {
            LogInvalid(_logger, graph.Metadata.NamespaceProperty ?? "", graph.Metadata.Name, message);
            await _events.RecordAsync(graphObject, EventRecorder.Warning, "InvalidSpec", message, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes the status subresource with the graph's resourceVersion; on 409 re-reads and retries unless the spec moved on.</summary>
    private async Task PutStatusAsync(JsonObject graphObject, DynamoGraphDeploymentStatus status, CancellationToken cancellationToken)
    {
        var current = graphObject;
        for (var attempt = 1; ; attempt++)
        {
            var existing = Read<DynamoGraphDeployment>(current);
            foreach (var condition in status.Conditions ?? [])
            {
                var old = existing.Status?.Conditions?.FirstOrDefault(c => c.Type == condition.Type);
                condition.LastTransitionTime = old is not null && old.Status == condition.Status ? old.LastTransitionTime : _time.GetUtcNow().UtcDateTime;
            }

            var wanted = ManifestBuilder.ToJson(status);
            if (current["status"] is JsonObject have && JsonNode.DeepEquals(Normalize(have), Normalize(wanted)))
            {
                return;
            }

            var update = (JsonObject)current.DeepClone();
            update["status"] = wanted;
            var ns = current["metadata"]!["namespace"]!.GetValue<string>();
            var name = current["metadata"]!["name"]!.GetValue<string>();
            try
            {
                await _api.ReplaceAsync(KubeResource.Graphs, ns, name, update, "status", cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (KubeApiException error) when (error.IsConflict && attempt < ConflictRetries)
            {
                Interlocked.Increment(ref _conflicts);
                LogConflict(_logger, GraphApi.GraphKind, ns, name, attempt);
                var fresh = await _api.GetAsync(KubeResource.Graphs, ns, name, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (fresh is null || fresh["metadata"]?["generation"]?.ToString() != current["metadata"]?["generation"]?.ToString())
                {
                    // Deleted, or the spec changed: the reconcile that change queued writes the status.
                    return;
                }

                current = fresh;
            }
        }
    }

    /// <summary>Status as compared: transition times aside (they are kept when nothing else changed).</summary>
    private static JsonNode Normalize(JsonObject status)
    {
        var copy = (JsonObject)status.DeepClone();
        foreach (var condition in (copy["conditions"] as JsonArray ?? []).OfType<JsonObject>())
        {
            condition.Remove("lastTransitionTime");
        }

        return copy;
    }

    private async Task<JsonObject> SetFinalizerAsync(JsonObject graph, bool add, CancellationToken cancellationToken)
    {
        var ns = graph["metadata"]!["namespace"]!.GetValue<string>();
        var name = graph["metadata"]!["name"]!.GetValue<string>();
        var current = graph;
        for (var attempt = 1; ; attempt++)
        {
            var finalizers = (current["metadata"]?["finalizers"] as JsonArray ?? []).Select(f => f!.GetValue<string>()).Where(f => f != GraphApi.Finalizer).ToList();
            if (add) finalizers.Add(GraphApi.Finalizer);
            try
            {
                // The resourceVersion in a merge patch makes it conditional: finalizers are a list, replaced whole.
                return await _api.PatchAsync(KubeResource.Graphs, ns, name, new JsonObject
                {
                    ["metadata"] = new JsonObject
                    {
                        ["resourceVersion"] = current["metadata"]?["resourceVersion"]?.GetValue<string>(),
                        ["finalizers"] = new JsonArray([.. finalizers.Select(f => (JsonNode)f)]),
                    },
                }, PatchKind.Merge, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (KubeApiException error) when (error.IsConflict && attempt < ConflictRetries)
            {
                Interlocked.Increment(ref _conflicts);
                current = await _api.GetAsync(KubeResource.Graphs, ns, name, cancellationToken: cancellationToken).ConfigureAwait(false) ?? current;
            }
        }
    }

    private static V1Condition Condition(string type, bool status, string reason, string message, long generation) => new()
    {
        Type = type,
        Status = status ? "True" : "False",
        Reason = reason,
        Message = message,
        ObservedGeneration = generation,
    };

    /// <summary>A new cluster secret: 32 random bytes, base64 (what <c>openssl rand -base64 32</c> gives).</summary>
    private static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static T Read<T>(JsonObject obj) => KubernetesJson.Deserialize<T>(obj.ToJsonString());

    [LoggerMessage(Level = LogLevel.Information, Message = "{Action} {Kind} {Namespace}/{Name}")]
    private static partial void LogWrote(ILogger logger, string action, string kind, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "Conflict writing {Kind} {Namespace}/{Name} (attempt {Attempt}); re-reading and retrying")]
    private static partial void LogConflict(ILogger logger, string kind, string @namespace, string name, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Graph {Namespace}/{Name} is invalid: {Problems}")]
    private static partial void LogInvalid(ILogger logger, string @namespace, string name, string problems);
}
