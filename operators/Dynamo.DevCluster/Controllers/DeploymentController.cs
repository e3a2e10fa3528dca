using System.Globalization;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster.Controllers;

/// <summary>
/// Deployment → ReplicaSets, as kube-controller-manager's deployment controller: one ReplicaSet per pod template
/// (named NAME-HASH, labelled and selected by <c>pod-template-hash</c>, annotated with the revision); RollingUpdate
/// within maxSurge / maxUnavailable (old ReplicaSets scaled down as the new one's pods get ready), Recreate (old ones
/// to zero first), scaling, <c>paused</c> (scale only), revisionHistoryLimit; status observedGeneration, replicas,
/// updatedReplicas, readyReplicas, availableReplicas, unavailableReplicas and the Available and Progressing
/// conditions. Not done: proportional scaling of old ReplicaSets during a rollout, progressDeadlineSeconds (never
/// ProgressDeadlineExceeded), minReadySeconds, rollback annotations, adoption of orphaned ReplicaSets.
/// </summary>
internal sealed class DeploymentController(ObjectStore store, ResourceType deployments, ResourceType replicaSets, EventRecorder events, TimeProvider time)
{
    private const string HashLabel = "pod-template-hash";
    private const string RevisionAnnotation = "deployment.kubernetes.io/revision";

    public void Sync(JsonObject d, IReadOnlyList<JsonObject> allReplicaSets)
    {
        if (Objects.IsDeleting(d)) return;
        var ns = Objects.Namespace(d);
        var name = Objects.Name(d);
        var uid = Objects.Uid(d);
        var replicas = Objects.Int(d, "spec.replicas", 1);
        var template = JsonPaths.Get(d, "spec.template") as JsonObject ?? [];
        var hash = Objects.TemplateHash(template, JsonPaths.GetLong(d, "status.collisionCount") ?? 0);
        var owned = allReplicaSets.Where(rs => Objects.Namespace(rs) == ns && Objects.ControllerUid(rs) == uid).ToList();
        var newRs = owned.FirstOrDefault(rs => JsonPaths.GetString(rs, $"metadata.labels.{HashLabel}") == hash && !Objects.IsDeleting(rs));
        var old = owned.Where(rs => rs != newRs && !Objects.IsDeleting(rs)).ToList();
        var paused = JsonPaths.Get(d, "spec.paused")?.GetValue<bool>() == true;
        var recreate = JsonPaths.GetString(d, "spec.strategy.type") == "Recreate";
        var maxSurge = recreate ? 0 : Objects.IntOrPercent(JsonPaths.Get(d, "spec.strategy.rollingUpdate.maxSurge"), replicas, roundUp: true, 25);
        var maxUnavailable = recreate ? replicas : Objects.IntOrPercent(JsonPaths.Get(d, "spec.strategy.rollingUpdate.maxUnavailable"), replicas, roundUp: false, 25);
        if (maxSurge == 0 && maxUnavailable == 0) maxUnavailable = 1;

        if (newRs is null && !paused)
        {
            var revision = owned.Select(rs => long.TryParse(Revision(rs), CultureInfo.InvariantCulture, out var r) ? r : 0).DefaultIfEmpty(0).Max() + 1;
            var initial = old.Count == 0 ? replicas : recreate ? 0 : Math.Max(0, Math.Min(replicas, replicas + maxSurge - old.Sum(Spec)));
            newRs = CreateReplicaSet(d, template, hash, ns, name, initial, revision);
            events.Normal(d, "ScalingReplicaSet", $"Scaled up replica set {Objects.Name(newRs)} from 0 to {initial}");
        }

        if (newRs is not null && !paused)
        {
            if (recreate)
            {
                foreach (var rs in old.Where(rs => Spec(rs) > 0)) Scale(d, rs, 0);
                var oldPodsLeft = old.Sum(rs => Objects.Int(rs, "status.replicas", 0));
                if (oldPodsLeft == 0 && old.All(rs => Spec(rs) == 0) && Spec(newRs) != replicas) newRs = Scale(d, newRs, replicas);
            }
            else if (old.All(rs => Spec(rs) == 0))
            {
                if (Spec(newRs) != replicas) newRs = Scale(d, newRs, replicas);
            }
            else
            {
                // Up: the new ReplicaSet grows while the total stays within replicas + maxSurge.
                var total = old.Sum(Spec) + Spec(newRs);
                var maxTotal = replicas + maxSurge;
                if (Spec(newRs) < replicas && total < maxTotal)
                    newRs = Scale(d, newRs, Math.Min(replicas, Spec(newRs) + (maxTotal - total)));
                else if (Spec(newRs) > replicas)
                    newRs = Scale(d, newRs, replicas);

                // Down: old ReplicaSets shrink, oldest first, while available pods stay at replicas - maxUnavailable.
                var minAvailable = replicas - maxUnavailable;
                var newUnavailable = Math.Max(0, Spec(newRs) - Objects.Int(newRs, "status.availableReplicas", 0));
                var available = old.Sum(rs => Objects.Int(rs, "status.availableReplicas", 0)) + Objects.Int(newRs, "status.availableReplicas", 0);
                var allPods = old.Sum(Spec) + Spec(newRs);
                // Old pods that are not available can go at once: they serve nothing.
                foreach (var rs in old.OrderBy(Objects.Created))
                {
                    var unavailable = Spec(rs) - Objects.Int(rs, "status.availableReplicas", 0);
                    if (unavailable > 0 && Spec(rs) > 0)
                    {
                        Scale(d, rs, Spec(rs) - Math.Min(unavailable, Spec(rs)));
                        allPods -= Math.Min(unavailable, Spec(rs));
                    }
                }
                var canRemove = Math.Min(allPods - minAvailable - newUnavailable, available - minAvailable);
                foreach (var rs in old.OrderBy(Objects.Created))
                {
                    if (canRemove <= 0) break;
                    var current = JsonPaths.GetLong(store.Get(replicaSets, ns, Objects.Name(rs)), "spec.replicas") ?? 0;
                    if (current == 0) continue;
                    var down = (int)Math.Min(current, canRemove);
                    Scale(d, store.Get(replicaSets, ns, Objects.Name(rs)), (int)current - down);
                    canRemove -= down;
                }
            }
        }
        else if (newRs is not null && paused && old.All(rs => Spec(rs) == 0) && Spec(newRs) != replicas)
        {
            newRs = Scale(d, newRs, replicas);
        }

        CleanUpHistory(d, old);
        WriteStatus(d, newRs, old, replicas, maxUnavailable, paused);
    }

    private static int Spec(JsonObject rs) => Objects.Int(rs, "spec.replicas", 1);

    private static string? Revision(JsonObject rs) =>
        (JsonPaths.Get(rs, "metadata.annotations") as JsonObject)?[RevisionAnnotation]?.ToString();

    private JsonObject CreateReplicaSet(JsonObject d, JsonObject template, string hash, string ns, string name, int replicas, long revision)
    {
        var podTemplate = template.DeepClone().AsObject();
        var podMeta = podTemplate["metadata"] as JsonObject ?? [];
        podTemplate["metadata"] = podMeta;
        var labels = podMeta["labels"] as JsonObject ?? [];
        podMeta["labels"] = labels;
        labels[HashLabel] = hash;
        var selector = JsonPaths.Get(d, "spec.selector")?.DeepClone() as JsonObject ?? [];
        var matchLabels = selector["matchLabels"] as JsonObject ?? [];
        selector["matchLabels"] = matchLabels;
        matchLabels[HashLabel] = hash;
        var rsLabels = labels.DeepClone().AsObject();
        var annotations = (JsonPaths.Get(d, "metadata.annotations")?.DeepClone() as JsonObject) ?? [];
        annotations.Remove("kubectl.kubernetes.io/last-applied-configuration");
        annotations[RevisionAnnotation] = revision.ToString(CultureInfo.InvariantCulture);
        annotations["deployment.kubernetes.io/desired-replicas"] = Objects.Int(d, "spec.replicas", 1).ToString(CultureInfo.InvariantCulture);
        var rs = new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["name"] = $"{name}-{hash}",
                ["namespace"] = ns,
                ["labels"] = rsLabels,
                ["annotations"] = annotations,
                ["ownerReferences"] = new JsonArray(Objects.ControllerReference(d, "apps/v1", "Deployment")),
            },
            ["spec"] = new JsonObject
            {
                ["replicas"] = replicas,
                ["selector"] = selector,
                ["template"] = podTemplate,
                ["minReadySeconds"] = Objects.Int(d, "spec.minReadySeconds", 0),
            },
        };
        try
        {
            return store.Create(replicaSets, ns, rs);
        }
        catch (ApiException e) when (e.Code == 409)
        {
            // A ReplicaSet of that name that is not ours (or one being deleted): count a collision, as the real
            // controller does, so the next hash differs.
            store.Update(deployments, ns, name, o =>
            {
                o["status"] ??= new JsonObject();
                o["status"]!["collisionCount"] = (JsonPaths.GetLong(o, "status.collisionCount") ?? 0) + 1;
                o["metadata"]!.AsObject().Remove("resourceVersion");
                return o;
            }, WriteTarget.Status);
            throw;
        }
    }

    private JsonObject Scale(JsonObject d, JsonObject rs, int to)
    {
        var from = Spec(rs);
        if (from == to) return rs;
        var updated = store.Update(replicaSets, Objects.Namespace(rs), Objects.Name(rs), o =>
        {
            o["spec"]!["replicas"] = to;
            var annotations = JsonPaths.Metadata(o)["annotations"] as JsonObject ?? [];
            JsonPaths.Metadata(o)["annotations"] = annotations;
            annotations["deployment.kubernetes.io/desired-replicas"] = Objects.Int(d, "spec.replicas", 1).ToString(CultureInfo.InvariantCulture);
            o["metadata"]!.AsObject().Remove("resourceVersion");
            return o;
        });
        events.Normal(d, "ScalingReplicaSet", $"Scaled {(to > from ? "up" : "down")} replica set {Objects.Name(rs)} from {from} to {to}");
        return updated;
    }

    private void CleanUpHistory(JsonObject d, List<JsonObject> old)
    {
        var limit = Objects.Int(d, "spec.revisionHistoryLimit", 10);
        var idle = old.Where(rs => Spec(rs) == 0 && Objects.Int(rs, "status.replicas", 0) == 0).OrderBy(Objects.Created).ToList();
        foreach (var rs in idle.Take(Math.Max(0, idle.Count - limit)))
        {
            try
            {
                store.Delete(replicaSets, Objects.Namespace(rs), Objects.Name(rs), new DeleteRequest());
            }
            catch (ApiException e) when (e.Code == 404)
            {
                // Gone meanwhile.
            }
        }
    }

    private void WriteStatus(JsonObject d, JsonObject? newRs, List<JsonObject> old, int replicas, int maxUnavailable, bool paused)
    {
        var all = old.Concat(newRs is null ? [] : [newRs]).ToList();
        var current = all.Sum(rs => Objects.Int(rs, "status.replicas", 0));
        var updated = newRs is null ? 0 : Objects.Int(newRs, "status.replicas", 0);
        var ready = all.Sum(rs => Objects.Int(rs, "status.readyReplicas", 0));
        var available = all.Sum(rs => Objects.Int(rs, "status.availableReplicas", 0));
        var previous = d["status"] as JsonObject;
        var now = Objects.Timestamp(time.GetUtcNow());
        var conditions = new JsonArray();
        var isAvailable = available >= replicas - maxUnavailable;
        Objects.SetCondition(conditions, previous, "Available", isAvailable,
            isAvailable ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
            isAvailable ? "Deployment has minimum availability." : "Deployment does not have minimum availability.", now, withUpdateTime: true);
        var newName = newRs is null ? "" : Objects.Name(newRs);
        var complete = newRs is not null && updated == replicas && current == replicas && Objects.Int(newRs, "status.availableReplicas", 0) == replicas;
        var (reason, message) = paused ? ("DeploymentPaused", "Deployment is paused")
            : complete ? ("NewReplicaSetAvailable", $"ReplicaSet \"{newName}\" has successfully progressed.")
            : ("ReplicaSetUpdated", $"ReplicaSet \"{newName}\" is progressing.");
        Objects.SetCondition(conditions, previous, "Progressing", !paused, reason, message, now, withUpdateTime: true);
        var status = new JsonObject
        {
            ["observedGeneration"] = JsonPaths.GetLong(d, "metadata.generation") ?? 1,
            ["replicas"] = current,
            ["updatedReplicas"] = updated,
            ["readyReplicas"] = ready,
            ["availableReplicas"] = available,
        };
        if (replicas - available > 0) status["unavailableReplicas"] = replicas - available;
        status["conditions"] = conditions;
        if (JsonPaths.GetLong(previous, "collisionCount") is { } collisions) status["collisionCount"] = collisions;
        ReplicaSetController.WriteStatus(store, deployments, d, status);
    }
}
