using System.Globalization;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster.Controllers;

/// <summary>
/// StatefulSet → Pods NAME-0 … NAME-(N-1), as kube-controller-manager's statefulset controller: stable names (a
/// deleted or finished Pod comes back under its name), <c>OrderedReady</c> (the default: one Pod at a time, each
/// after the ones before it are ready; scale down from the highest ordinal) or <c>Parallel</c> management; the
/// RollingUpdate strategy replaces Pods of an older template from the highest ordinal, one at a time once all are
/// ready (<c>OnDelete</c>: only Pods deleted by hand); Pods get <c>hostname</c>, <c>subdomain</c> and the
/// <c>statefulset.kubernetes.io/pod-name</c>, <c>apps.kubernetes.io/pod-index</c> and
/// <c>controller-revision-hash</c> labels; status replicas, readyReplicas, availableReplicas, currentReplicas,
/// updatedReplicas, currentRevision, updateRevision, observedGeneration. Not done: volumeClaimTemplates (refused
/// with a Warning event), ControllerRevision objects, partitions.
/// </summary>
internal sealed class StatefulSetController(ObjectStore store, ResourceType statefulSets, ResourceType pods, EventRecorder events)
{
    private const string RevisionLabel = "controller-revision-hash";

    public void Sync(JsonObject sts, IReadOnlyList<JsonObject> allPods)
    {
        var ns = Objects.Namespace(sts);
        var name = Objects.Name(sts);
        var uid = Objects.Uid(sts);
        var replicas = Objects.Int(sts, "spec.replicas", 1);
        var template = JsonPaths.Get(sts, "spec.template") as JsonObject ?? [];
        var revision = $"{name}-{Objects.TemplateHash(template)}";
        var owned = allPods.Where(p => Objects.Namespace(p) == ns && Objects.ControllerUid(p) == uid)
            .ToDictionary(p => Ordinal(name, Objects.Name(p)) ?? -1);
        var parallel = JsonPaths.GetString(sts, "spec.podManagementPolicy") == "Parallel";
        var onDelete = JsonPaths.GetString(sts, "spec.updateStrategy.type") == "OnDelete";

        if (!Objects.IsDeleting(sts))
        {
            if (JsonPaths.Get(sts, "spec.volumeClaimTemplates") is JsonArray { Count: > 0 })
                events.Warning(sts, "VolumeClaimsIgnored", "volumeClaimTemplates are not provisioned on the dev cluster: the pods run without those volumes");
            for (var i = 0; i < replicas; i++)
            {
                if (owned.TryGetValue(i, out var pod))
                {
                    if (JsonPaths.GetString(pod, "status.phase") is "Succeeded" or "Failed" && !Objects.IsDeleting(pod))
                    {
                        Delete(sts, pod);
                        events.Normal(sts, "RecreatingFailedPod", $"StatefulSet {ns}/{name} is recreating failed Pod {Objects.Name(pod)}");
                    }
                    if (!parallel && !Objects.IsPodReady(pod)) break;
                    continue;
                }
                var created = store.Create(pods, ns, NewPod(sts, template, name, ns, i, revision));
                owned[i] = created;
                events.Normal(sts, "SuccessfulCreate", $"create Pod {Objects.Name(created)} in StatefulSet {name} successful");
                if (!parallel) break;
            }

            var surplus = owned.Where(kv => kv.Key >= replicas || kv.Key < 0).OrderByDescending(kv => kv.Key).Select(kv => kv.Value).Where(p => !Objects.IsDeleting(p)).ToList();
            var lowerReady = owned.Where(kv => kv.Key >= 0 && kv.Key < replicas).All(kv => Objects.IsPodReady(kv.Value));
            foreach (var pod in surplus)
            {
                if (!parallel && !lowerReady) break;
                Delete(sts, pod);
                if (!parallel) break;
            }

            var inRange = owned.Where(kv => kv.Key >= 0 && kv.Key < replicas).ToList();
            if (!onDelete && surplus.Count == 0 && inRange.Count == replicas && inRange.All(kv => Objects.IsPodReady(kv.Value)))
            {
                var stale = inRange.Where(kv => Objects.Labels(kv.Value)?[RevisionLabel]?.ToString() != revision).OrderByDescending(kv => kv.Key).FirstOrDefault();
                if (stale.Value is not null) Delete(sts, stale.Value);
            }
        }

        var active = owned.Values.Where(Objects.IsPodActive).ToList();
        var updatedCount = active.Count(p => Objects.Labels(p)?[RevisionLabel]?.ToString() == revision);
        var ready = active.Count(Objects.IsPodReady);
        var currentRevision = updatedCount == replicas ? revision : JsonPaths.GetString(sts, "status.currentRevision") ?? revision;
        var status = new JsonObject
        {
            ["observedGeneration"] = JsonPaths.GetLong(sts, "metadata.generation") ?? 1,
            ["replicas"] = active.Count,
            ["readyReplicas"] = ready,
            ["availableReplicas"] = ready,
            ["currentReplicas"] = currentRevision == revision ? updatedCount : active.Count - updatedCount,
            ["updatedReplicas"] = updatedCount,
            ["currentRevision"] = currentRevision,
            ["updateRevision"] = revision,
            ["collisionCount"] = 0,
        };
        ReplicaSetController.WriteStatus(store, statefulSets, sts, status);
    }

    private void Delete(JsonObject sts, JsonObject pod)
    {
        try
        {
            store.Delete(pods, Objects.Namespace(pod), Objects.Name(pod), new DeleteRequest());
            events.Normal(sts, "SuccessfulDelete", $"delete Pod {Objects.Name(pod)} in StatefulSet {Objects.Name(sts)} successful");
        }
        catch (ApiException e) when (e.Code == 404)
        {
            // Gone meanwhile.
        }
    }

    private static int? Ordinal(string setName, string podName) =>
        podName.StartsWith(setName + "-", StringComparison.Ordinal)
        && int.TryParse(podName.AsSpan(setName.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : null;

    private static JsonObject NewPod(JsonObject sts, JsonObject template, string name, string ns, int ordinal, string revision)
    {
        var pod = ReplicaSetController.NewPod(sts, template, name, ns, "StatefulSet");
        var meta = pod["metadata"]!.AsObject();
        meta.Remove("generateName");
        var podName = $"{name}-{ordinal}";
        meta["name"] = podName;
        var labels = meta["labels"] as JsonObject ?? [];
        meta["labels"] = labels;
        labels["statefulset.kubernetes.io/pod-name"] = podName;
        labels["apps.kubernetes.io/pod-index"] = ordinal.ToString(CultureInfo.InvariantCulture);
        labels[RevisionLabel] = revision;
        var spec = pod["spec"]!.AsObject();
        spec["hostname"] = podName;
        if (JsonPaths.GetString(sts, "spec.serviceName") is { Length: > 0 } service) spec["subdomain"] = service;
        return pod;
    }
}
