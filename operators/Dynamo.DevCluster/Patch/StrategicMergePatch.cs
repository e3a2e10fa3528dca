using System.Text.Json.Nodes;

namespace Dynamo.DevCluster.Patch;

/// <summary>
/// Strategic merge patch (<c>application/strategic-merge-patch+json</c>) for the built-in kinds served: lists with a
/// merge key merge item by item (containers, initContainers, env, volumes, imagePullSecrets by name; container ports
/// by containerPort; Service ports by port; volumeMounts by mountPath; conditions by type; ownerReferences by uid;
/// hostAliases by ip; topologySpreadConstraints by topologyKey), metadata.finalizers merges as a set, other lists
/// replace. Directives: <c>$patch</c> (replace / delete / merge), <c>$retainKeys</c>, <c>$setElementOrder/FIELD</c>
/// and <c>$deleteFromPrimitiveList/FIELD</c>, as kubectl sends them.
/// </summary>
public static class StrategicMergePatch
{
    private const string SetElementOrder = "$setElementOrder/";
    private const string DeleteFromPrimitiveList = "$deleteFromPrimitiveList/";

    public static JsonObject Apply(string kind, JsonObject original, JsonNode? patch)
    {
        if (patch is not JsonObject p) throw ApiException.BadRequest("a strategic merge patch must be a JSON object");
        return MergeObject(kind, original.DeepClone().AsObject(), p, []);
    }

    /// <summary>The merge key of the list at <paramref name="path"/> (field names, no indexes); "" for a primitive set; null: replace.</summary>
    internal static string? MergeKey(string kind, IReadOnlyList<string> path)
    {
        if (path.Count == 0) return null;
        var field = path[^1];
        var parent = path.Count >= 2 ? path[^2] : null;
        return field switch
        {
            "containers" or "initContainers" or "ephemeralContainers" or "imagePullSecrets" or "resourceClaims" => "name",
            "env" when parent is "containers" or "initContainers" or "ephemeralContainers" => "name",
            "volumes" => "name",
            "volumeMounts" => "mountPath",
            "volumeDevices" => "devicePath",
            "conditions" => "type",
            "ownerReferences" when parent == "metadata" => "uid",
            "finalizers" when parent == "metadata" => "",
            "hostAliases" => "ip",
            "topologySpreadConstraints" => "topologyKey",
            "ports" when parent is "containers" or "initContainers" or "ephemeralContainers" => "containerPort",
            "ports" when kind == "Service" && path.Count == 2 && parent == "spec" => "port",
            _ => null,
        };
    }

    private static JsonObject MergeObject(string kind, JsonObject target, JsonObject patch, List<string> path)
    {
        var directive = (string?)patch["$patch"];
        if (directive == "replace")
        {
            var replaced = patch.DeepClone().AsObject();
            replaced.Remove("$patch");
            return replaced;
        }
        if (directive == "delete") return new JsonObject();
        if (directive is not null and not "merge")
            throw ApiException.BadRequest($"unknown patch directive \"$patch: {directive}\" (use replace, delete or merge)");

        if (patch["$retainKeys"] is JsonArray retain)
        {
            var keep = retain.Select(k => (string?)k).ToHashSet();
            foreach (var (key, _) in target.ToList())
            {
                if (!keep.Contains(key)) target.Remove(key);
            }
        }

        foreach (var (key, value) in patch)
        {
            if (key is "$patch" or "$retainKeys") continue;
            if (key.StartsWith(SetElementOrder, StringComparison.Ordinal) || key.StartsWith(DeleteFromPrimitiveList, StringComparison.Ordinal)) continue;
            if (key.StartsWith('$')) throw ApiException.BadRequest($"unknown patch directive \"{key}\"");
            var childPath = new List<string>(path) { key };
            if (value is null)
            {
                target.Remove(key);
                continue;
            }
            var existing = target[key];
            switch (value)
            {
                case JsonObject po when existing is JsonObject eo:
                    target[key] = MergeObject(kind, eo.DeepClone().AsObject(), po, childPath);
                    break;
                case JsonObject po:
                    target[key] = MergeObject(kind, new JsonObject(), po, childPath);
                    break;
                case JsonArray pa:
                    target[key] = MergeList(kind, existing as JsonArray, pa, childPath);
                    break;
                default:
                    target[key] = value.DeepClone();
                    break;
            }
        }

        // Directives that act on lists named by a sibling key, after the lists themselves merged.
        foreach (var (key, value) in patch)
        {
            if (key.StartsWith(DeleteFromPrimitiveList, StringComparison.Ordinal) && value is JsonArray toDelete)
            {
                var field = key[DeleteFromPrimitiveList.Length..];
                if (target[field] is JsonArray list)
                {
                    var remove = toDelete.ToList();
                    target[field] = new JsonArray(list.Where(i => !remove.Any(r => JsonNode.DeepEquals(r, i))).Select(i => i?.DeepClone()).ToArray());
                }
            }
        }
        foreach (var (key, value) in patch)
        {
            if (key.StartsWith(SetElementOrder, StringComparison.Ordinal) && value is JsonArray order)
            {
                var field = key[SetElementOrder.Length..];
                if (target[field] is JsonArray list) target[field] = Reorder(list, order, MergeKey(kind, [.. path, field]));
            }
        }
        return target;
    }

    private static JsonArray MergeList(string kind, JsonArray? target, JsonArray patch, List<string> path)
    {
        var mergeKey = MergeKey(kind, path);
        // A list-level $patch: replace item replaces the whole list.
        if (patch.OfType<JsonObject>().Any(o => (string?)o["$patch"] == "replace"))
        {
            return new JsonArray(patch.Where(i => !(i is JsonObject o && (string?)o["$patch"] == "replace")).Select(i => i?.DeepClone()).ToArray());
        }
        if (mergeKey is null || target is null)
        {
            return new JsonArray(patch.Where(i => !(i is JsonObject o && o["$patch"] is not null)).Select(i => Strip(i?.DeepClone())).ToArray());
        }
        if (mergeKey.Length == 0)
        {
            var merged = target.Select(i => i?.DeepClone()).ToList();
            foreach (var item in patch)
            {
                if (!merged.Any(m => JsonNode.DeepEquals(m, item))) merged.Add(item?.DeepClone());
            }
            return new JsonArray(merged.ToArray());
        }
        var result = target.Select(i => i?.DeepClone()).ToList();
        foreach (var item in patch)
        {
            if (item is not JsonObject po) throw ApiException.BadRequest($"{string.Join('.', path)}: list items must be objects with the merge key \"{mergeKey}\"");
            var keyValue = po[mergeKey];
            if (keyValue is null)
                throw ApiException.BadRequest($"{string.Join('.', path)}: a list item has no merge key \"{mergeKey}\"");
            var index = result.FindIndex(r => r is JsonObject ro && JsonNode.DeepEquals(ro[mergeKey], keyValue));
            if ((string?)po["$patch"] == "delete")
            {
                if (index >= 0) result.RemoveAt(index);
                continue;
            }
            if (index >= 0) result[index] = MergeObject(kind, result[index]!.AsObject(), po, path);
            else result.Add(MergeObject(kind, new JsonObject(), po, path));
        }
        return new JsonArray(result.ToArray());
    }

    private static JsonArray Reorder(JsonArray list, JsonArray order, string? mergeKey)
    {
        JsonNode? KeyOf(JsonNode? item) => mergeKey is { Length: > 0 } && item is JsonObject o ? o[mergeKey] : item;
        var items = list.Select(i => i?.DeepClone()).ToList();
        var ordered = new List<JsonNode?>();
        foreach (var wanted in order)
        {
            var wantedKey = mergeKey is { Length: > 0 } && wanted is JsonObject wo ? wo[mergeKey] : wanted;
            var idx = items.FindIndex(i => JsonNode.DeepEquals(KeyOf(i), wantedKey));
            if (idx < 0) continue;
            ordered.Add(items[idx]);
            items.RemoveAt(idx);
        }
        ordered.AddRange(items);
        return new JsonArray(ordered.ToArray());
    }

    private static JsonNode? Strip(JsonNode? node)
    {
        if (node is JsonObject o)
        {
            foreach (var (k, v) in o.ToList())
            {
                if (k.StartsWith('$')) o.Remove(k);
                else Strip(v);
            }
        }
        else if (node is JsonArray a)
        {
            foreach (var i in a) Strip(i);
        }
        return node;
    }
}
