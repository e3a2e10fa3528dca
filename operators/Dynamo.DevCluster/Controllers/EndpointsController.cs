using System.Text.Json.Nodes;
using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster.Controllers;

/// <summary>
/// Endpoints for each Service with a selector, as the endpoints controller: the Pods matching it that have an IP,
/// ready ones under <c>addresses</c>, the others under <c>notReadyAddresses</c> (terminating ones left out), each
/// Service port resolved against the Pod's container ports when its targetPort is a name; Pods resolving the ports
/// differently land in separate subsets. The Endpoints object carries an owner reference to its Service, so it goes
/// with it (the real controller deletes it itself). Services without a selector keep hand-made Endpoints.
/// </summary>
internal sealed class EndpointsController(ObjectStore store, ResourceType endpoints)
{
    public void Sync(JsonObject service, IReadOnlyList<JsonObject> allPods)
    {
        if (Objects.IsDeleting(service) || JsonPaths.GetString(service, "spec.type") == "ExternalName") return;
        var selector = Objects.ServiceSelector(service);
        if (selector is null) return;
        var ns = Objects.Namespace(service);
        var name = Objects.Name(service);
        var ports = JsonPaths.Get(service, "spec.ports") as JsonArray ?? [];

        var subsets = new Dictionary<string, (JsonArray Ports, JsonArray Ready, JsonArray NotReady)>();
        foreach (var pod in allPods.Where(p => Objects.Namespace(p) == ns && selector.Matches(Objects.Labels(p)))
                     .OrderBy(p => JsonPaths.GetString(p, "status.podIP"), StringComparer.Ordinal))
        {
            if (Objects.IsDeleting(pod) || JsonPaths.GetString(pod, "status.podIP") is not { Length: > 0 } ip) continue;
            if (JsonPaths.GetString(pod, "status.phase") is "Succeeded" or "Failed") continue;
            var resolved = new JsonArray();
            foreach (var port in ports.OfType<JsonObject>())
            {
                if (ResolveTargetPort(port, pod) is not { } number) continue;
                var p = new JsonObject();
                if ((string?)port["name"] is { Length: > 0 } portName) p["name"] = portName;
                p["port"] = number;
                p["protocol"] = (string?)port["protocol"] ?? "TCP";
                resolved.Add(p);
            }
            var key = resolved.ToJsonString();
            if (!subsets.TryGetValue(key, out var subset)) subsets[key] = subset = (resolved, [], []);
            var address = new JsonObject
            {
                ["ip"] = ip,
                ["nodeName"] = JsonPaths.GetString(pod, "spec.nodeName"),
                ["targetRef"] = new JsonObject
                {
                    ["kind"] = "Pod",
                    ["namespace"] = ns,
                    ["name"] = Objects.Name(pod),
                    ["uid"] = Objects.Uid(pod),
                },
            };
            (Objects.IsPodReady(pod) ? subset.Ready : subset.NotReady).Add(address);
        }

        var wanted = new JsonArray();
        foreach (var (ports2, ready, notReady) in subsets.Values.Where(s => s.Ports.Count > 0))
        {
            var s = new JsonObject();
            if (ready.Count > 0) s["addresses"] = ready;
            if (notReady.Count > 0) s["notReadyAddresses"] = notReady;
            s["ports"] = ports2;
            wanted.Add(s);
        }

        var labels = Objects.Labels(service)?.DeepClone() as JsonObject ?? [];
        if (store.TryGet(endpoints, ns, name, out var existing))
        {
            if (JsonNode.DeepEquals(existing!["subsets"], wanted) && JsonNode.DeepEquals(Objects.Labels(existing), labels)) return;
            store.Update(endpoints, ns, name, e =>
            {
                e["subsets"] = wanted;
                JsonPaths.Metadata(e)["labels"] = labels;
                JsonPaths.Metadata(e).Remove("resourceVersion");
                return e;
            });
            return;
        }
        try
        {
            store.Create(endpoints, ns, new JsonObject
            {
                ["metadata"] = new JsonObject
                {
                    ["name"] = name,
                    ["namespace"] = ns,
                    ["labels"] = labels,
                    ["ownerReferences"] = new JsonArray(new JsonObject
                    {
                        ["apiVersion"] = "v1",
                        ["kind"] = "Service",
                        ["name"] = name,
                        ["uid"] = Objects.Uid(service),
                    }),
                },
                ["subsets"] = wanted,
            });
        }
        catch (ApiException e) when (e.Code == 409)
        {
            // Created meanwhile; the next pass updates it.
        }
    }

    /// <summary>A Service port's targetPort (default: its port) as a number, looking a name up in the Pod's containers.</summary>
    internal static int? ResolveTargetPort(JsonObject servicePort, JsonObject pod)
    {
        var target = servicePort["targetPort"] ?? servicePort["port"];
        if (target is JsonValue v && v.TryGetValue<long>(out var n)) return (int)n;
        var text = target?.ToString();
        if (int.TryParse(text, out var parsed)) return parsed;
        foreach (var container in (JsonPaths.Get(pod, "spec.containers") as JsonArray ?? []).OfType<JsonObject>())
        {
            foreach (var p in (container["ports"] as JsonArray ?? []).OfType<JsonObject>())
            {
                if ((string?)p["name"] == text) return (int?)JsonPaths.GetLong(p, "containerPort");
            }
        }
        return null;
    }
}
