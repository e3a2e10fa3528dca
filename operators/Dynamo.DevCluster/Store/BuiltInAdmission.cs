using System.Text;
using System.Text.Json.Nodes;

namespace Dynamo.DevCluster.Store;

/// <summary>
/// The defaults and checks the real server applies to the built-in kinds that the dev cluster's users rely on:
/// Namespace phase, Pod phase, Service cluster IPs and node ports, workload replicas and selectors, Secret
/// stringData, Lease and Event fields.
/// </summary>
internal sealed class BuiltInAdmission : IAdmission
{
    private const int NodePortMin = 30000;
    private const int NodePortMax = 32767;
    private readonly ObjectStore _store;
    // A random start, so two dev clusters on one machine (parallel tests) rarely hand out the same loopback address.
    private int _nextClusterIp = Random.Shared.Next(10, 62_000);

    public BuiltInAdmission(ObjectStore store) => _store = store;

    public void Admit(ResourceType type, JsonObject obj, JsonObject? old, WriteTarget target, WriteOptions options)
    {
        if (type.IsCustom) return;
        var name = JsonPaths.GetString(obj, "metadata.name") ?? "";
        switch (type.StorageKey)
        {
            case "namespaces":
                if (obj["status"] is not JsonObject nsStatus) obj["status"] = nsStatus = new JsonObject();
                nsStatus["phase"] ??= "Active";
                JsonPaths.Metadata(obj)["labels"] ??= new JsonObject();
                obj["metadata"]!["labels"]!["kubernetes.io/metadata.name"] = name;
                break;
            case "pods":
                if (obj["status"] is not JsonObject podStatus) obj["status"] = podStatus = new JsonObject();
                podStatus["phase"] ??= "Pending";
                if (obj["spec"] is not JsonObject podSpec || podSpec["containers"] is not JsonArray { Count: > 0 })
                    throw ApiException.Invalid(type, name, [new StatusCause("spec.containers", "Required value", "FieldValueRequired")]);
                DefaultPodSpec(podSpec);
                if (old is not null && target == WriteTarget.Main && JsonPaths.GetString(old, "spec.nodeName") is { Length: > 0 } node
                    && JsonPaths.GetString(obj, "spec.nodeName") != node)
                    throw ApiException.Invalid(type, name, [new StatusCause("spec.nodeName", "Forbidden: pod updates may not change fields other than container images, activeDeadlineSeconds, tolerations and labels", "FieldValueForbidden")]);
                break;
            case "services":
                AdmitService(type, obj, old, name);
                break;
            case "deployments.apps" or "replicasets.apps" or "statefulsets.apps":
                AdmitWorkload(type, obj, name);
                break;
            case "secrets":
                if (obj["stringData"] is JsonObject stringData)
                {
                    if (obj["data"] is not JsonObject data) obj["data"] = data = new JsonObject();
                    foreach (var (k, v) in stringData) data[k] = Convert.ToBase64String(Encoding.UTF8.GetBytes((string?)v ?? ""));
                    obj.Remove("stringData");
                }
                obj["type"] ??= "Opaque";
                break;
        }
    }

    public void Committed(ResourceType type, string eventType, JsonObject obj)
    {
    }

    private static void AdmitWorkload(ResourceType type, JsonObject obj, string name)
    {
        if (obj["spec"] is not JsonObject spec) obj["spec"] = spec = new JsonObject();
        spec["replicas"] ??= 1;
        spec["revisionHistoryLimit"] ??= 10;
        switch (type.Kind)
        {
            case "Deployment":
                spec["progressDeadlineSeconds"] ??= 600;
                spec["strategy"] ??= new JsonObject
                {
                    ["type"] = "RollingUpdate",
                    ["rollingUpdate"] = new JsonObject { ["maxUnavailable"] = "25%", ["maxSurge"] = "25%" },
                };
                break;
            case "StatefulSet":
                spec["podManagementPolicy"] ??= "OrderedReady";
                spec["updateStrategy"] ??= new JsonObject { ["type"] = "RollingUpdate", ["rollingUpdate"] = new JsonObject { ["partition"] = 0 } };
                break;
        }
        if (JsonPaths.Get(spec, "template.spec") is JsonObject templateSpec) DefaultPodSpec(templateSpec);
        var causes = new List<StatusCause>();
        if (JsonPaths.GetLong(spec, "replicas") is not { } replicas)
            causes.Add(new StatusCause("spec.replicas", "Invalid value: must be an integer", "FieldValueTypeInvalid"));
        else if (replicas < 0)
            causes.Add(new StatusCause("spec.replicas", $"Invalid value: {replicas}: must be greater than or equal to 0"));
        if (spec["selector"] is not JsonObject selector)
        {
            causes.Add(new StatusCause("spec.selector", "Required value", "FieldValueRequired"));
        }
        else
        {
            var labels = JsonPaths.Get(spec, "template.metadata.labels") as JsonObject;
            var parsed = Selectors.LabelSelector.Parse(Selectors.LabelSelector.FormatObject(selector));
            if (parsed.IsEverything)
                causes.Add(new StatusCause("spec.selector", "Invalid value: empty selector is invalid for deployment"));
            else if (!parsed.Matches(labels))
                causes.Add(new StatusCause("spec.template.metadata.labels", "Invalid value: `selector` does not match template `labels`"));
        }
        if (causes.Count > 0) throw ApiException.Invalid(type, name, causes);
    }

    /// <summary>The pod-spec defaults the real server fills in (kubectl describe prints them).</summary>
    private static void DefaultPodSpec(JsonObject spec)
    {
        spec["restartPolicy"] ??= "Always";
        spec["terminationGracePeriodSeconds"] ??= 30;
        spec["dnsPolicy"] ??= "ClusterFirst";
        spec["schedulerName"] ??= "default-scheduler";
        spec["securityContext"] ??= new JsonObject();
        foreach (var list in new[] { "initContainers", "containers" })
        {
            if (spec[list] is not JsonArray containers) continue;
            foreach (var c in containers.OfType<JsonObject>())
            {
                var image = (string?)c["image"] ?? "";
                var tagged = image.LastIndexOf(':') > image.LastIndexOf('/') && !image.EndsWith(":latest", StringComparison.Ordinal);
                c["imagePullPolicy"] ??= tagged || image.Contains('@') ? "IfNotPresent" : "Always";
                c["terminationMessagePath"] ??= "/dev/termination-log";
                c["terminationMessagePolicy"] ??= "File";
                c["resources"] ??= new JsonObject();
                if (c["ports"] is JsonArray ports)
                {
                    foreach (var p in ports.OfType<JsonObject>()) p["protocol"] ??= "TCP";
                }
            }
        }
    }

    private void AdmitService(ResourceType type, JsonObject obj, JsonObject? old, string name)
    {
        if (obj["spec"] is not JsonObject spec) obj["spec"] = spec = new JsonObject();
        var svcType = (string?)spec["type"] ?? "ClusterIP";
        spec["type"] = svcType;
        if (svcType is not ("ClusterIP" or "NodePort" or "LoadBalancer" or "ExternalName"))
            throw ApiException.Invalid(type, name, [new StatusCause("spec.type", $"Unsupported value: \"{svcType}\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"", "FieldValueNotSupported")]);
        spec["sessionAffinity"] ??= "None";
        var oldIp = JsonPaths.GetString(old, "spec.clusterIP");
        if (svcType != "ExternalName" && (string?)spec["clusterIP"] is null or "")
        {
            // Loopback addresses (127.96/16, as 10.96/16 on a real cluster): the node agent proxies each Service port there.
            var ip = oldIp ?? $"127.96.{(_nextClusterIp / 250) % 250}.{_nextClusterIp++ % 250 + 1}";
            spec["clusterIP"] = ip;
            spec["clusterIPs"] = new JsonArray(ip);
        }
        if (spec["ports"] is not JsonArray ports) return;
        var used = UsedNodePorts(JsonPaths.GetString(obj, "metadata.uid"));
        for (var i = 0; i < ports.Count; i++)
        {
            if (ports[i] is not JsonObject port) continue;
            port["protocol"] ??= "TCP";
            port["targetPort"] ??= port["port"]?.DeepClone();
            if (svcType is not ("NodePort" or "LoadBalancer"))
            {
                port.Remove("nodePort");
                continue;
            }
            if (JsonPaths.GetLong(port, "nodePort") is { } requested)
            {
                if (requested is < NodePortMin or > NodePortMax)
                    throw ApiException.Invalid(type, name, [new StatusCause($"spec.ports[{i}].nodePort", $"Invalid value: {requested}: provided port is not in the valid range. The range of valid ports is {NodePortMin}-{NodePortMax}")]);
                if (!used.Add((int)requested))
                    throw ApiException.Invalid(type, name, [new StatusCause($"spec.ports[{i}].nodePort", $"Invalid value: {requested}: provided port is already allocated")]);
                continue;
            }
            var previous = (old?["spec"]?["ports"] as JsonArray)?.OfType<JsonObject>()
                .FirstOrDefault(p => JsonPaths.GetLong(p, "port") == JsonPaths.GetLong(port, "port")) is { } prev ? JsonPaths.GetLong(prev, "nodePort") : null;
            var chosen = previous is { } p0 && !used.Contains((int)p0) ? (int)p0 : AllocateNodePort(used)
                ?? throw new ApiException(500, "InternalError", "no free node port left in 30000-32767");
            used.Add(chosen);
            port["nodePort"] = chosen;
        }
    }

    /// <summary>
    /// A node port no Service holds and nothing on this machine listens on (the node agent will bind it on
    /// 127.0.0.1), starting at a random point of the range as the real allocator does, so two dev clusters on one
    /// machine rarely pick the same one.
    /// </summary>
    private static int? AllocateNodePort(HashSet<int> used)
    {
        const int span = NodePortMax - NodePortMin + 1;
        var start = System.Security.Cryptography.RandomNumberGenerator.GetInt32(span);
        for (var i = 0; i < span; i++)
        {
            var port = NodePortMin + (start + i) % span;
            if (!used.Contains(port) && FreeOnLoopback(port)) return port;
        }
        return null;
    }

    private static bool FreeOnLoopback(int port)
    {
        try
        {
            using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            probe.Start();
            probe.Stop();
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private HashSet<int> UsedNodePorts(string? exceptUid)
    {
        var used = new HashSet<int>();
        var services = _store.Registry.FindStorage("services")!;
        foreach (var svc in _store.ListUnlocked(services))
        {
            if (JsonPaths.GetString(svc, "metadata.uid") == exceptUid) continue;
            if (svc["spec"]?["ports"] is not JsonArray ports) continue;
            foreach (var p in ports.OfType<JsonObject>())
            {
                if (JsonPaths.GetLong(p, "nodePort") is { } n) used.Add((int)n);
            }
        }
        return used;
    }
}
