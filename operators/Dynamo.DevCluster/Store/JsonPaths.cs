using System.Text.Json.Nodes;

namespace Dynamo.DevCluster.Store;

/// <summary>Reads and writes dotted JSON paths (<c>.spec.replicas</c>, <c>metadata.name</c>) in JSON objects.</summary>
public static class JsonPaths
{
    public static string[] Split(string path) =>
        path.TrimStart('.').Split('.', StringSplitOptions.RemoveEmptyEntries);

    public static JsonNode? Get(JsonNode? node, string path)
    {
        foreach (var part in Split(path))
        {
            if (node is not JsonObject o || !o.TryGetPropertyValue(part, out node)) return null;
        }
        return node;
    }

    public static void Set(JsonObject root, string path, JsonNode? value)
    {
        var parts = Split(path);
        var node = root;
        for (var i = 0; i < parts.Length - 1; i++)
        {
            if (node[parts[i]] is not JsonObject child)
            {
                child = new JsonObject();
                node[parts[i]] = child;
            }
            node = child;
        }
        node[parts[^1]] = value;
    }

    public static string? GetString(JsonNode? node, string path) =>
        Get(node, path) is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    public static JsonObject Metadata(JsonObject obj)
    {
        if (obj["metadata"] is JsonObject m) return m;
        m = new JsonObject();
        obj["metadata"] = m;
        return m;
    }

    public static long? GetLong(JsonNode? node, string path) =>
        Number(Get(node, path)) is { } x && x == Math.Floor(x) && Math.Abs(x) < 9.2e18 ? (long)x : null;

    /// <summary>
    /// A JSON number's value, whether the node was parsed (a JsonElement inside) or built from a .NET int, long or
    /// double; null for anything else.
    /// </summary>
    public static double? Number(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number
            ? double.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture)
            : null;

    /// <summary>A scalar as text, the way field selectors and printer columns compare and show it.</summary>
    public static string? Scalar(JsonNode? node) => node switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v when v.TryGetValue<bool>(out var b) => b ? "true" : "false",
        JsonValue v => v.ToJsonString(),
        _ => node.ToJsonString(),
    };
}
