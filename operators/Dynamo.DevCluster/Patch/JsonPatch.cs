using System.Globalization;
using System.Text.Json.Nodes;

namespace Dynamo.DevCluster.Patch;

/// <summary>RFC 6902 JSON patch (<c>application/json-patch+json</c>): add, remove, replace, move, copy and test over RFC 6901 pointers.</summary>
public static class JsonPatch
{
    public static JsonNode? Apply(JsonNode? document, JsonNode? patch)
    {
        if (patch is not JsonArray ops) throw ApiException.BadRequest("a JSON patch must be an array of operations");
        var doc = document?.DeepClone();
        for (var i = 0; i < ops.Count; i++)
        {
            if (ops[i] is not JsonObject op) throw ApiException.BadRequest($"JSON patch operation {i} is not an object");
            var name = (string?)op["op"] ?? throw ApiException.BadRequest($"JSON patch operation {i} has no \"op\"");
            var path = (string?)op["path"] ?? throw ApiException.BadRequest($"JSON patch operation {i} ({name}) has no \"path\"");
            switch (name)
            {
                case "add":
                    doc = Add(doc, path, Value(op, i));
                    break;
                case "remove":
                    doc = Remove(doc, path, out _);
                    break;
                case "replace":
                    doc = Remove(doc, path, out _);
                    doc = Add(doc, path, Value(op, i));
                    break;
                case "move":
                    var from = (string?)op["from"] ?? throw ApiException.BadRequest($"JSON patch operation {i} (move) has no \"from\"");
                    doc = Remove(doc, from, out var moved);
                    doc = Add(doc, path, moved);
                    break;
                case "copy":
                    var source = (string?)op["from"] ?? throw ApiException.BadRequest($"JSON patch operation {i} (copy) has no \"from\"");
                    doc = Add(doc, path, Get(doc, source)?.DeepClone());
                    break;
                case "test":
                    if (!JsonNode.DeepEquals(Get(doc, path), Value(op, i)))
                        throw new ApiException(422, "Invalid", $"the server rejected our request due to an error in our request: testing value {path} failed");
                    break;
                default:
                    throw ApiException.BadRequest($"JSON patch operation {i} has an unknown op \"{name}\" (use add, remove, replace, move, copy, test)");
            }
        }
        return doc;
    }

    private static JsonNode? Value(JsonObject op, int i) =>
        op.TryGetPropertyValue("value", out var v) ? v?.DeepClone() : throw ApiException.BadRequest($"JSON patch operation {i} has no \"value\"");

    private static List<string> Tokens(string pointer)
    {
        if (pointer.Length == 0) return [];
        if (pointer[0] != '/') throw ApiException.BadRequest($"JSON pointer \"{pointer}\" must start with '/'");
        return pointer[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToList();
    }

    private static JsonNode? Get(JsonNode? doc, string pointer)
    {
        var node = doc;
        foreach (var t in Tokens(pointer))
        {
            node = node switch
            {
                JsonObject o when o.TryGetPropertyValue(t, out var child) => child,
                JsonArray a when int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var idx) && idx < a.Count => a[idx],
                _ => throw Missing(pointer),
            };
        }
        return node;
    }

    private static JsonNode? Add(JsonNode? doc, string pointer, JsonNode? value)
    {
        var tokens = Tokens(pointer);
        if (tokens.Count == 0) return value;
        var parent = tokens.Count == 1 ? doc : Get(doc, "/" + string.Join('/', tokens.Take(tokens.Count - 1).Select(Escape)));
        var last = tokens[^1];
        switch (parent)
        {
            case JsonObject o:
                o[last] = value;
                break;
            case JsonArray a:
                if (last == "-") a.Add(value);
                else if (int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var idx) && idx <= a.Count) a.Insert(idx, value);
                else throw Missing(pointer);
                break;
            default:
                throw Missing(pointer);
        }
        return doc;
    }

    private static JsonNode? Remove(JsonNode? doc, string pointer, out JsonNode? removed)
    {
        var tokens = Tokens(pointer);
        if (tokens.Count == 0) throw ApiException.BadRequest("a JSON patch may not remove the whole document");
        var parent = tokens.Count == 1 ? doc : Get(doc, "/" + string.Join('/', tokens.Take(tokens.Count - 1).Select(Escape)));
        var last = tokens[^1];
        switch (parent)
        {
            case JsonObject o when o.TryGetPropertyValue(last, out var v):
                o.Remove(last);
                removed = v;
                break;
            case JsonArray a when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var idx) && idx < a.Count:
                removed = a[idx];
                a.RemoveAt(idx);
                break;
            default:
                throw Missing(pointer);
        }
        return doc;
    }

    private static string Escape(string token) => token.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);

    private static ApiException Missing(string pointer) =>
        new(422, "Invalid", $"the server rejected our request due to an error in our request: jsonpatch: path \"{pointer}\" does not exist in the object");
}
