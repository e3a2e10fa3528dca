using System.Globalization;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Selectors;
using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster.Tables;

/// <summary>How much of each object a Table row carries (the <c>includeObject</c> parameter).</summary>
public enum IncludeObject
{
    None,
    Metadata,
    Object,
}

/// <summary>
/// Server-side Table output (<c>meta.k8s.io/v1 Table</c>) for <c>kubectl get</c>: the columns the real server
/// prints for each built-in kind served, and NAME plus additionalPrinterColumns (or AGE) for custom resources.
/// </summary>
public sealed class TablePrinter
{
    private sealed record Column(string Name, string Type, string Format, string Description, int Priority, Func<JsonObject, JsonNode?> Cell);

    private readonly TimeProvider _time;

    public TablePrinter(TimeProvider time) => _time = time;

    public JsonObject Print(ResourceType type, IReadOnlyList<JsonObject> objects, string? resourceVersion, string? continueToken, IncludeObject include)
    {
        var columns = Columns(type);
        var rows = new JsonArray();
        foreach (var obj in objects)
        {
            var row = new JsonObject { ["cells"] = new JsonArray(columns.Select(c => c.Cell(obj)?.DeepClone()).ToArray()) };
            switch (include)
            {
                case IncludeObject.Metadata:
                    row["object"] = new JsonObject
                    {
                        ["kind"] = "PartialObjectMetadata",
                        ["apiVersion"] = "meta.k8s.io/v1",
                        ["metadata"] = obj["metadata"]?.DeepClone(),
                    };
                    break;
                case IncludeObject.Object:
                    row["object"] = obj.DeepClone();
                    break;
            }
            rows.Add(row);
        }
        var meta = new JsonObject();
        if (resourceVersion is not null) meta["resourceVersion"] = resourceVersion;
        if (continueToken is not null) meta["continue"] = continueToken;
        return new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = meta,
            ["columnDefinitions"] = new JsonArray(columns.Select(c => (JsonNode)new JsonObject
            {
                ["name"] = c.Name,
                ["type"] = c.Type,
                ["format"] = c.Format,
                ["description"] = c.Description,
                ["priority"] = c.Priority,
            }).ToArray()),
            ["rows"] = rows,
        };
    }

    private List<Column> Columns(ResourceType type)
    {
        var name = new Column("Name", "string", "name", "Name must be unique within a namespace.", 0, o => JsonPaths.GetString(o, "metadata.name"));
        var age = new Column("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0, Age);
        if (type.IsCustom)
        {
            if (type.PrinterColumns.Count == 0) return [name, age];
            return [name, .. type.PrinterColumns.Select(PrinterColumn)];
        }
        return type.StorageKey switch
        {
            "pods" =>
            [
                name,
                Str("Ready", "The aggregate readiness state of this pod for accepting traffic.", PodReady),
                Str("Status", "The aggregate status of the containers in this pod.", PodStatus),
                new Column("Restarts", "string", "", "The number of times the containers in this pod have been restarted.", 0, PodRestarts),
                age,
                Str("IP", "The IP address assigned to the pod.", o => JsonPaths.GetString(o, "status.podIP") ?? "<none>", 1),
                Str("Node", "The node the pod runs on.", o => JsonPaths.GetString(o, "spec.nodeName") ?? "<none>", 1),
            ],
            "deployments.apps" =>
            [
                name,
                Str("Ready", "Number of the pod with ready state", o => $"{Num(o, "status.readyReplicas")}/{Num(o, "spec.replicas")}"),
                Int("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", o => Num(o, "status.updatedReplicas")),
                Int("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", o => Num(o, "status.availableReplicas")),
                age,
                Str("Containers", "Names of each container in the template.", o => Containers(o, "name"), 1),
                Str("Images", "Images referenced by each container in the template.", o => Containers(o, "image"), 1),
                Str("Selector", "Label selector for pods.", o => LabelSelector.FormatObject(JsonPaths.Get(o, "spec.selector") as JsonObject), 1),
            ],
            "replicasets.apps" =>
            [
                name,
                Int("Desired", "Number of desired pods.", o => Num(o, "spec.replicas")),
                Int("Current", "Number of actual replicas.", o => Num(o, "status.replicas")),
                Int("Ready", "The number of ready replicas for this replica set.", o => Num(o, "status.readyReplicas")),
                age,
            ],
            "statefulsets.apps" =>
            [
                name,
                Str("Ready", "Number of the pod with ready state", o => $"{Num(o, "status.readyReplicas")}/{Num(o, "spec.replicas")}"),
                age,
            ],
            "services" =>
            [
                name,
                Str("Type", "The type of the service.", o => JsonPaths.GetString(o, "spec.type") ?? "ClusterIP"),
                Str("Cluster-IP", "The cluster IP of the service.", o => JsonPaths.GetString(o, "spec.clusterIP") ?? "<none>"),
                Str("External-IP", "The external IP of the service.", ExternalIp),
                Str("Port(s)", "The ports of the service.", ServicePorts),
                age,
                Str("Selector", "The selector of the service.", o => o["spec"]?["selector"] is JsonObject sel ? string.Join(",", sel.Select(p => $"{p.Key}={p.Value}")) : "<none>", 1),
            ],
            "configmaps" => [name, Int("Data", "Number of data entries.", o => Count(o, "data") + Count(o, "binaryData")), age],
            "secrets" => [name, Str("Type", "The type of the secret.", o => JsonPaths.GetString(o, "type") ?? "Opaque"), Int("Data", "Number of data entries.", o => Count(o, "data")), age],
            "namespaces" => [name, Str("Status", "The phase of the namespace.", o => JsonPaths.GetString(o, "status.phase") ?? "Active"), age],
            "endpoints" => [name, Str("Endpoints", "Endpoints of the service.", Endpoints), age],
            "leases.coordination.k8s.io" => [name, Str("Holder", "The holder of the lease.", o => JsonPaths.GetString(o, "spec.holderIdentity") ?? ""), age],
            "events" =>
            [
                Str("Last Seen", "Time since the event was last seen.", o => Since(JsonPaths.GetString(o, "lastTimestamp") ?? JsonPaths.GetString(o, "eventTime") ?? JsonPaths.GetString(o, "metadata.creationTimestamp"))),
                Str("Type", "The type of the event.", o => JsonPaths.GetString(o, "type") ?? ""),
                Str("Reason", "The reason of the event.", o => JsonPaths.GetString(o, "reason") ?? ""),
                Str("Object", "The object the event is about.", o => $"{(JsonPaths.GetString(o, "involvedObject.kind") ?? "").ToLowerInvariant()}/{JsonPaths.GetString(o, "involvedObject.name")}"),
                Str("Message", "The message of the event.", o => JsonPaths.GetString(o, "message") ?? ""),
                name with { Priority = 1 },
            ],
            "events.events.k8s.io" =>
            [
                Str("Last Seen", "Time since the event was last seen.", o => Since(JsonPaths.GetString(o, "deprecatedLastTimestamp") ?? JsonPaths.GetString(o, "eventTime") ?? JsonPaths.GetString(o, "metadata.creationTimestamp"))),
                Str("Type", "The type of the event.", o => JsonPaths.GetString(o, "type") ?? ""),
                Str("Reason", "The reason of the event.", o => JsonPaths.GetString(o, "reason") ?? ""),
                Str("Object", "The object the event is about.", o => $"{(JsonPaths.GetString(o, "regarding.kind") ?? "").ToLowerInvariant()}/{JsonPaths.GetString(o, "regarding.name")}"),
                Str("Message", "The note of the event.", o => JsonPaths.GetString(o, "note") ?? ""),
                name with { Priority = 1 },
            ],
            "customresourcedefinitions.apiextensions.k8s.io" =>
            [
                name,
                new Column("Created At", "date", "", "The time the definition was created.", 0, o => JsonPaths.GetString(o, "metadata.creationTimestamp")),
            ],
            _ => [name, age],
        };
    }

    private Column PrinterColumn(PrinterColumn c)
    {
        JsonPathExpression? path = null;
        try
        {
            path = JsonPathExpression.Parse(c.JsonPath);
        }
        catch (FormatException)
        {
            // Shown as <unknown> per row below, as kubectl shows a column whose path it cannot evaluate.
        }
        return new Column(c.Name, c.Type, c.Format ?? "", c.Description ?? "", c.Priority, o =>
        {
            if (path is null) return "<unknown>";
            var values = path.Evaluate(o);
            if (values.Count == 0) return null;
            var first = values[0];
            return c.Type switch
            {
                "integer" or "number" or "boolean" when first is JsonValue => first.DeepClone(),
                "date" => Since(JsonPaths.Scalar(first)),
                _ => string.Join(",", values.Select(JsonPaths.Scalar)),
            };
        });
    }

    private static Column Str(string name, string description, Func<JsonObject, string?> cell, int priority = 0) =>
        new(name, "string", "", description, priority, o => cell(o));

    private static Column Int(string name, string description, Func<JsonObject, long> cell) =>
        new(name, "integer", "", description, 0, o => cell(o));

    private static long Num(JsonObject o, string path) => JsonPaths.GetLong(o, path) ?? 0;

    private static int Count(JsonObject o, string field) => o[field] is JsonObject m ? m.Count : 0;

    private JsonNode? Age(JsonObject o) => Since(JsonPaths.GetString(o, "metadata.creationTimestamp"));

    private string Since(string? timestamp)
    {
        if (timestamp is null) return "<unknown>";
        if (!DateTimeOffset.TryParse(timestamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)) return "<invalid>";
        return HumanDuration.Format(_time.GetUtcNow() - t);
    }

    private static string Containers(JsonObject o, string field) =>
        JsonPaths.Get(o, "spec.template.spec.containers") is JsonArray cs ? string.Join(",", cs.Select(c => (string?)c?[field])) : "";

    private static string PodReady(JsonObject o)
    {
        var total = JsonPaths.Get(o, "spec.containers") is JsonArray cs ? cs.Count : 0;
        var ready = JsonPaths.Get(o, "status.containerStatuses") is JsonArray st
            ? st.Count(s => s?["ready"] is JsonValue v && v.TryGetValue<bool>(out var b) && b)
            : 0;
        return $"{ready}/{total}";
    }

    private static string PodStatus(JsonObject o)
    {
        if (JsonPaths.GetString(o, "metadata.deletionTimestamp") is not null) return "Terminating";
        if (JsonPaths.Get(o, "status.containerStatuses") is JsonArray st)
        {
            foreach (var s in st.OfType<JsonObject>())
            {
                if (JsonPaths.GetString(s, "state.waiting.reason") is { Length: > 0 } waiting) return waiting;
                if (JsonPaths.GetString(s, "state.terminated.reason") is { Length: > 0 } terminated && JsonPaths.GetString(o, "status.phase") != "Succeeded") return terminated;
            }
        }
        return JsonPaths.GetString(o, "status.reason") ?? JsonPaths.GetString(o, "status.phase") ?? "Pending";
    }

    private static JsonNode PodRestarts(JsonObject o) =>
        (JsonPaths.Get(o, "status.containerStatuses") is JsonArray st ? st.Sum(s => JsonPaths.GetLong(s, "restartCount") ?? 0) : 0)
        .ToString(CultureInfo.InvariantCulture);

    private static string ExternalIp(JsonObject o)
    {
        if (JsonPaths.Get(o, "spec.externalIPs") is JsonArray ips && ips.Count > 0) return string.Join(",", ips.Select(i => (string?)i));
        if (JsonPaths.GetString(o, "spec.type") == "LoadBalancer")
        {
            return JsonPaths.Get(o, "status.loadBalancer.ingress") is JsonArray ing && ing.Count > 0
                ? string.Join(",", ing.Select(i => (string?)i?["ip"] ?? (string?)i?["hostname"]))
                : "<pending>";
        }
        if (JsonPaths.GetString(o, "spec.type") == "ExternalName") return JsonPaths.GetString(o, "spec.externalName") ?? "<none>";
        return "<none>";
    }

    private static string ServicePorts(JsonObject o)
    {
        if (JsonPaths.Get(o, "spec.ports") is not JsonArray ports || ports.Count == 0) return "<none>";
        return string.Join(",", ports.OfType<JsonObject>().Select(p =>
        {
            var protocol = JsonPaths.GetString(p, "protocol") ?? "TCP";
            var port = JsonPaths.GetLong(p, "port");
            return JsonPaths.GetLong(p, "nodePort") is { } node ? $"{port}:{node}/{protocol}" : $"{port}/{protocol}";
        }));
    }

    private static string Endpoints(JsonObject o)
    {
        if (o["subsets"] is not JsonArray subsets) return "<none>";
        var list = new List<string>();
        foreach (var s in subsets.OfType<JsonObject>())
        {
            var addrs = s["addresses"] as JsonArray ?? [];
            var ports = s["ports"] as JsonArray ?? [];
            foreach (var a in addrs)
            {
                if (ports.Count == 0) list.Add((string?)a?["ip"] ?? "");
                foreach (var p in ports) list.Add($"{(string?)a?["ip"]}:{JsonPaths.GetLong(p, "port")}");
            }
        }
        return list.Count == 0 ? "<none>" : string.Join(",", list.Take(3)) + (list.Count > 3 ? $" + {list.Count - 3} more..." : "");
    }
}
