using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Selectors;
using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster.Controllers;

/// <summary>Small readers of the JSON objects the controllers and the node agent share.</summary>
internal static class Objects
{
    public static string Name(JsonObject o) => JsonPaths.GetString(o, "metadata.name") ?? "";

    public static string Namespace(JsonObject o) => JsonPaths.GetString(o, "metadata.namespace") ?? "default";

    public static string Uid(JsonObject o) => JsonPaths.GetString(o, "metadata.uid") ?? "";

    public static bool IsDeleting(JsonObject o) => JsonPaths.Get(o, "metadata.deletionTimestamp") is not null;

    public static JsonObject? Labels(JsonObject o) => JsonPaths.Get(o, "metadata.labels") as JsonObject;

    public static DateTime Created(JsonObject o) =>
        DateTime.TryParse(JsonPaths.GetString(o, "metadata.creationTimestamp"), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t) ? t : DateTime.MinValue;

    public static string Timestamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The uid of the object's controller (the owner reference with controller: true), or null.</summary>
    public static string? ControllerUid(JsonObject o) =>
        (JsonPaths.Get(o, "metadata.ownerReferences") as JsonArray)?.OfType<JsonObject>()
            .FirstOrDefault(r => r["controller"]?.GetValue<bool>() == true) is { } owner ? (string?)owner["uid"] : null;

    public static JsonObject ControllerReference(JsonObject owner, string apiVersion, string kind) => new()
    {
        ["apiVersion"] = apiVersion,
        ["kind"] = kind,
        ["name"] = Name(owner),
        ["uid"] = Uid(owner),
        ["controller"] = true,
        ["blockOwnerDeletion"] = true,
    };

    /// <summary>A workload's <c>spec.selector</c> (matchLabels and matchExpressions) as a label selector; null matches nothing.</summary>
    public static LabelSelector? Selector(JsonObject workload) =>
        JsonPaths.Get(workload, "spec.selector") is JsonObject s ? LabelSelector.Parse(LabelSelector.FormatObject(s)) : null;

    /// <summary>A Service's <c>spec.selector</c> (a plain label map); null when it has none (endpoints managed by hand).</summary>
    public static LabelSelector? ServiceSelector(JsonObject service)
    {
        if (JsonPaths.Get(service, "spec.selector") is not JsonObject map || map.Count == 0) return null;
        return LabelSelector.Parse(string.Join(',', map.Select(kv => $"{kv.Key}={(string?)kv.Value}")));
    }

    /// <summary>Running, Ready condition True, not being deleted.</summary>
    public static bool IsPodReady(JsonObject pod) =>
        !IsDeleting(pod) && JsonPaths.GetString(pod, "status.phase") == "Running"
        && (JsonPaths.Get(pod, "status.conditions") as JsonArray)?.OfType<JsonObject>()
            .Any(c => (string?)c["type"] == "Ready" && (string?)c["status"] == "True") == true;

    /// <summary>Counts toward a workload's replicas: not being deleted and not finished.</summary>
    public static bool IsPodActive(JsonObject pod) =>
        !IsDeleting(pod) && JsonPaths.GetString(pod, "status.phase") is not ("Succeeded" or "Failed");

    public static int Int(JsonNode? node, string path, int fallback) => (int?)JsonPaths.GetLong(node, path) ?? fallback;

    /// <summary>JSON with object keys sorted, so the same template always hashes the same.</summary>
    public static string Canonical(JsonNode? node)
    {
        var sb = new StringBuilder();
        Write(node, sb);
        return sb.ToString();

        static void Write(JsonNode? n, StringBuilder sb)
        {
            switch (n)
            {
                case JsonObject o:
                    sb.Append('{');
                    var first = true;
                    foreach (var kv in o.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    {
                        if (!first) sb.Append(',');
                        first = false;
                        sb.Append(System.Text.Json.JsonSerializer.Serialize(kv.Key)).Append(':');
                        Write(kv.Value, sb);
                    }
                    sb.Append('}');
                    break;
                case JsonArray a:
                    sb.Append('[');
                    for (var i = 0; i < a.Count; i++)
                    {
                        if (i > 0) sb.Append(',');
                        Write(a[i], sb);
                    }
                    sb.Append(']');
                    break;
                case null:
                    sb.Append("null");
                    break;
                default:
                    sb.Append(n.ToJsonString());
                    break;
            }
        }
    }

    /// <summary>
    /// The <c>pod-template-hash</c> of a template: FNV-1a over its canonical JSON (and the collision count), encoded
    /// with the consonant-and-digit alphabet Kubernetes uses so it never spells words.
    /// </summary>
    public static string TemplateHash(JsonNode? template, long collisionCount = 0)
    {
        var bytes = Encoding.UTF8.GetBytes(Canonical(template) + (collisionCount > 0 ? collisionCount.ToString(CultureInfo.InvariantCulture) : ""));
        var hash = 2166136261u;
        foreach (var b in bytes)
        {
            hash ^= b;
            hash *= 16777619u;
        }
        const string alphabet = "bcdfghjklmnpqrstvwxz2456789";
        var digits = hash.ToString(CultureInfo.InvariantCulture);
        return new string(digits.Select(c => alphabet[c % alphabet.Length]).ToArray());
    }

    /// <summary>A percentage ("25%") or a number, scaled against <paramref name="total"/>, rounding up or down.</summary>
    public static int IntOrPercent(JsonNode? value, int total, bool roundUp, int fallbackPercent)
    {
        var text = value switch
        {
            null => $"{fallbackPercent}%",
            JsonValue v when v.TryGetValue<long>(out var n) => n.ToString(CultureInfo.InvariantCulture),
            _ => value.ToString(),
        };
        if (text.EndsWith('%') && int.TryParse(text[..^1], CultureInfo.InvariantCulture, out var percent))
        {
            var scaled = total * percent / 100.0;
            return (int)(roundUp ? Math.Ceiling(scaled) : Math.Floor(scaled));
        }
        return int.TryParse(text, CultureInfo.InvariantCulture, out var number) ? number : 0;
    }

    /// <summary>Sets a condition, keeping its transition time when the status is unchanged and its update time when nothing changed.</summary>
    public static void SetCondition(JsonArray conditions, JsonObject? previous, string type, bool status, string reason, string message, string now, bool withUpdateTime)
    {
        var old = (previous?["conditions"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault(c => (string?)c["type"] == type);
        var statusText = status ? "True" : "False";
        var same = old is not null && (string?)old["status"] == statusText;
        var unchanged = same && (string?)old!["reason"] == reason && (string?)old["message"] == message;
        var c = new JsonObject
        {
            ["type"] = type,
            ["status"] = statusText,
        };
        if (withUpdateTime) c["lastUpdateTime"] = unchanged ? old!["lastUpdateTime"]?.DeepClone() ?? now : now;
        c["lastTransitionTime"] = same ? old!["lastTransitionTime"]?.DeepClone() ?? now : now;
        c["reason"] = reason;
        c["message"] = message;
        conditions.Add(c);
    }
}
