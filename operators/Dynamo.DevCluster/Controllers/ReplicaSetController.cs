using System.Text.Json.Nodes;
using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster.Controllers;

/// <summary>
/// ReplicaSet → Pods, as kube-controller-manager's replicaset controller: the Pods it controls (owner reference),
/// counted when active; missing ones created from the template (<c>generateName</c> "NAME-"), surplus ones deleted
/// preferring unscheduled, then not ready, then the newest; status replicas, fullyLabeledReplicas, readyReplicas,
/// availableReplicas (ready; minReadySeconds is not waited for) and observedGeneration.
/// </summary>
internal sealed class ReplicaSetController(ObjectStore store, ResourceType replicaSets, ResourceType pods, EventRecorder events)
{
    public void Sync(JsonObject rs, IReadOnlyList<JsonObject> allPods)
    {
        var ns = Objects.Namespace(rs);
        var name = Objects.Name(rs);
        var uid = Objects.Uid(rs);
        var owned = allPods.Where(p => Objects.Namespace(p) == ns && Objects.ControllerUid(p) == uid).ToList();
        var active = owned.Where(Objects.IsPodActive).ToList();
        var wanted = Objects.Int(rs, "spec.replicas", 1);

        if (!Objects.IsDeleting(rs))
        {
            if (active.Count < wanted && JsonPaths.Get(rs, "spec.template") is JsonObject template)
            {
                for (var i = active.Count; i < wanted; i++)
                {
                    var pod = NewPod(rs, template, name, ns);
                    var created = store.Create(pods, ns, pod);
                    active.Add(created);
                    owned.Add(created);
                    events.Normal(rs, "SuccessfulCreate", $"Created pod: {Objects.Name(created)}");
                }
            }
            else if (active.Count > wanted)
            {
                foreach (var pod in active.OrderBy(DeletionRank).ThenByDescending(Objects.Created).Take(active.Count - wanted).ToList())
                {
                    try
                    {
                        store.Delete(pods, ns, Objects.Name(pod), new DeleteRequest());
                        events.Normal(rs, "SuccessfulDelete", $"Deleted pod: {Objects.Name(pod)}");
                    }
                    catch (ApiException e) when (e.Code == 404)
                    {
                        // Gone meanwhile.
                    }
                    active.Remove(pod);
                }
            }
        }

        var selector = Objects.Selector(rs);
        var ready = active.Count(Objects.IsPodReady);
        var status = new JsonObject
        {
            ["replicas"] = active.Count,
            ["fullyLabeledReplicas"] = active.Count(p => selector?.Matches(Objects.Labels(p)) == true),
            ["readyReplicas"] = ready,
            ["availableReplicas"] = ready,
            ["observedGeneration"] = JsonPaths.GetLong(rs, "metadata.generation") ?? 1,
        };
        WriteStatus(store, replicaSets, rs, status);
    }

    /// <summary>Deleted first: unscheduled, then pending, then not ready, then ready.</summary>
    private static int DeletionRank(JsonObject pod) =>
        JsonPaths.GetString(pod, "spec.nodeName") is not { Length: > 0 } ? 0
        : JsonPaths.GetString(pod, "status.phase") == "Pending" ? 1
        : Objects.IsPodReady(pod) ? 3 : 2;

    internal static JsonObject NewPod(JsonObject owner, JsonObject template, string generateNamePrefix, string ns, string kind = "ReplicaSet")
    {
        var meta = template["metadata"]?.DeepClone() as JsonObject ?? [];
        meta.Remove("name");
        meta.Remove("namespace");
        meta["generateName"] = generateNamePrefix + "-";
        meta["namespace"] = ns;
        meta["ownerReferences"] = new JsonArray(Objects.ControllerReference(owner, "apps/v1", kind));
        return new JsonObject
        {
            ["metadata"] = meta,
            ["spec"] = template["spec"]?.DeepClone() ?? new JsonObject(),
        };
    }

    /// <summary>Writes a workload's status when it differs (a no-op write keeps the resourceVersion).</summary>
    internal static void WriteStatus(ObjectStore store, ResourceType type, JsonObject obj, JsonObject status)
    {
        if (JsonNode.DeepEquals(obj["status"], status)) return;
        try
        {
            store.Update(type, Objects.Namespace(obj), Objects.Name(obj), o =>
            {
                o["status"] = status.DeepClone();
                o["metadata"]!.AsObject().Remove("resourceVersion");
                return o;
            }, WriteTarget.Status);
        }
        catch (ApiException e) when (e.Code == 404)
        {
            // Deleted meanwhile.
        }
    }
}
