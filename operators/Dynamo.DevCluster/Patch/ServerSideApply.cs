using System.Globalization;
using System.Text.Json.Nodes;

namespace Dynamo.DevCluster.Patch;

/// <summary>
/// Server-side apply (<c>application/apply-patch+yaml</c> with a JSON body) for field managers that apply: each
/// applier's fields are recorded in <c>metadata.managedFields</c> (FieldsV1: <c>f:</c> fields, <c>k:</c> list items
/// by merge key, <c>v:</c> set members); applying again removes the fields that manager applied before and no longer
/// does (unless another applier also owns them); two appliers setting one field to different values conflict (409,
/// a cause per field) unless <c>force=true</c> moves the field to the new one. Writes that are not applies (update,
/// patch, scale) are not recorded as owners, so they never conflict with an apply: an apply overwrites what they set
/// in the fields it names and leaves the rest.
/// </summary>
public static class ServerSideApply
{
    private static readonly HashSet<string> ServerOwnedMetadata =
        ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink", "generateName"];

    /// <summary>
    /// The object after <paramref name="manager"/> applies <paramref name="intent"/> to <paramref name="current"/>
    /// (a copy of the stored object, or a new object when none exists), with managedFields updated.
    /// </summary>
    public static JsonObject Apply(string kind, bool strategicLists, JsonObject? current, JsonObject intent, string manager, bool force, string apiVersion, string now)
    {
        var result = current?.DeepClone().AsObject() ?? new JsonObject();
        var entries = (current?["metadata"]?["managedFields"] as JsonArray)?.OfType<JsonObject>().Select(e => e.DeepClone().AsObject()).ToList() ?? [];
        var mine = entries.FirstOrDefault(e => (string?)e["manager"] == manager && (string?)e["operation"] == "Apply");
        var previous = mine?["fieldsV1"] as JsonObject ?? [];
        var wanted = FieldsOf(kind, strategicLists, intent, []);

        // Conflicts with other appliers: the same leaf, set to a different value.
        var conflicts = new List<StatusCause>();
        foreach (var other in entries.Where(e => e != mine && (string?)e["operation"] == "Apply"))
        {
            if (other["fieldsV1"] is not JsonObject theirs) continue;
            foreach (var leaf in Leaves(wanted, []).Where(l => l[^1] != "." && Contains(theirs, l)))
            {
                var path = Describe(leaf);
                if (JsonNode.DeepEquals(Resolve(result, leaf), Resolve(intent, leaf))) continue;
                if (force) Remove(theirs, leaf);
                else conflicts.Add(new StatusCause(path, $"conflict with \"{other["manager"]}\"", "FieldManagerConflict"));
            }
        }
        if (conflicts.Count > 0)
        {
            var list = string.Join("\n", conflicts.Select(c => $"- {c.Message}: {c.Field}"));
            throw new ApiException(409, "Conflict",
                $"Apply failed with {conflicts.Count} conflict{(conflicts.Count == 1 ? "" : "s")}: {string.Join(", ", conflicts.Select(c => $"{c.Message}: {c.Field}"))}",
                kind, (string?)intent["metadata"]?["name"], causes: conflicts);
        }

        // Fields this manager applied before and no longer does go, unless another applier still owns them. A field
        // or list item dropped whole goes whole (its key fields included); otherwise leaf by leaf.
        var others = entries.Where(e => e != mine && (string?)e["operation"] == "Apply").Select(e => e["fieldsV1"]).OfType<JsonObject>().ToList();
        foreach (var leaf in Leaves(previous, []))
        {
            if (Contains(wanted, leaf) || others.Any(f => Contains(f, leaf))) continue;
            var dropped = leaf.Take(Enumerable.Range(1, leaf.Count).First(n => !Contains(wanted, leaf.Take(n).ToList()))).ToList();
            Delete(result, others.Any(f => Contains(f, dropped)) ? leaf : dropped);
        }

        var merged = strategicLists
            ? StrategicMergePatch.Apply(kind, result, Strip(intent))
            : (JsonObject)JsonMergePatch.Apply(result, Strip(intent))!;

        // An apply that owns what it owned before keeps its timestamp, so a repeated apply is a no-op write.
        var unchanged = mine is not null && JsonNode.DeepEquals(mine["fieldsV1"], wanted) && (string?)mine["apiVersion"] == apiVersion;
        var time = unchanged ? (string?)mine!["time"] ?? now : now;
        entries.RemoveAll(e => e == mine || (e["fieldsV1"] is JsonObject f && f.Count == 0));
        entries.Add(new JsonObject
        {
            ["manager"] = manager,
            ["operation"] = "Apply",
            ["apiVersion"] = apiVersion,
            ["time"] = time,
            ["fieldsType"] = "FieldsV1",
            ["fieldsV1"] = wanted,
        });
        if (merged["metadata"] is not JsonObject meta) merged["metadata"] = meta = new JsonObject();
        meta["managedFields"] = new JsonArray(entries.Select(e => (JsonNode)e).ToArray());
        return merged;
    }

    /// <summary>The FieldsV1 set of an applied object.</summary>
    internal static JsonObject FieldsOf(string kind, bool strategicLists, JsonObject obj, List<string> path)
    {
        var set = new JsonObject();
        foreach (var (name, value) in obj)
        {
            if (path.Count == 0 && name is "apiVersion" or "kind") continue;
            if (path is ["metadata"] && ServerOwnedMetadata.Contains(name)) continue;
            var childPath = new List<string>(path) { name };
            if (path.Count == 0 && name == "metadata" && value is JsonObject m && FieldsOf(kind, strategicLists, m, childPath).Count == 0) continue;
            set["f:" + name] = value switch
            {
                JsonObject o => FieldsOf(kind, strategicLists, o, childPath) is { Count: > 0 } inner ? inner : new JsonObject(),
                JsonArray a => ListFields(kind, strategicLists, a, childPath),
                _ => new JsonObject(),
            };
        }
        return set;
    }

    private static JsonObject ListFields(string kind, bool strategicLists, JsonArray list, List<string> path)
    {
        var key = strategicLists ? StrategicMergePatch.MergeKey(kind, path) : null;
        if (key is null) return new JsonObject();
        var set = new JsonObject();
        foreach (var item in list)
        {
            if (key.Length == 0)
            {
                set["v:" + (item?.ToJsonString() ?? "null")] = new JsonObject();
            }
            else if (item is JsonObject o && o[key] is { } keyValue)
            {
                var fields = FieldsOf(kind, strategicLists, o, path);
                fields["."] = new JsonObject();
                set["k:" + new JsonObject { [key] = keyValue.DeepClone() }.ToJsonString()] = fields;
            }
        }
        return set;
    }

    /// <summary>Every leaf of a field set, as its path of FieldsV1 keys.</summary>
    private static IEnumerable<List<string>> Leaves(JsonObject set, List<string> prefix)
    {
        foreach (var (key, child) in set)
        {
            var path = new List<string>(prefix) { key };
            if (child is JsonObject c && c.Count > 0 && !(c.Count == 1 && c.ContainsKey(".")))
            {
                foreach (var leaf in Leaves(c, path)) yield return leaf;
            }
            else
            {
                yield return path;
            }
        }
    }

    private static bool Contains(JsonObject set, List<string> leaf)
    {
        JsonNode? node = set;
        foreach (var key in leaf)
        {
            if (node is not JsonObject o || !o.TryGetPropertyValue(key, out node)) return false;
        }
        return true;
    }

    private static void Remove(JsonObject set, List<string> leaf)
    {
        var node = set;
        for (var i = 0; i < leaf.Count - 1; i++)
        {
            if (node[leaf[i]] is not JsonObject next) return;
            node = next;
        }
        node.Remove(leaf[^1]);
    }

    /// <summary>The value at a FieldsV1 path in an object (null when absent).</summary>
    private static JsonNode? Resolve(JsonObject obj, List<string> leaf)
    {
        JsonNode? node = obj;
        foreach (var key in leaf)
        {
            node = Step(node, key);
            if (node is null) return null;
        }
        return node;
    }

    private static JsonNode? Step(JsonNode? node, string key)
    {
        if (key == ".") return node;
        if (key.StartsWith("f:", StringComparison.Ordinal)) return node is JsonObject o ? o[key[2..]] : null;
        if (node is not JsonArray list) return null;
        if (key.StartsWith("k:", StringComparison.Ordinal))
        {
            var match = JsonNode.Parse(key[2..]) as JsonObject ?? [];
            return list.FirstOrDefault(i => i is JsonObject io && match.All(m => JsonNode.DeepEquals(io[m.Key], m.Value)));
        }
        if (key.StartsWith("v:", StringComparison.Ordinal))
        {
            var value = JsonNode.Parse(key[2..]);
            return list.FirstOrDefault(i => JsonNode.DeepEquals(i, value));
        }
        return null;
    }

    /// <summary>Deletes the field (or list item, or set member) a FieldsV1 leaf names.</summary>
    private static void Delete(JsonObject obj, List<string> leaf)
    {
        var parentPath = leaf.Take(leaf.Count - 1).ToList();
        var last = leaf[^1];
        if (last == ".")
        {
            // The item itself: remove it from its list.
            last = parentPath[^1];
            parentPath = parentPath.Take(parentPath.Count - 1).ToList();
        }
        var parent = parentPath.Count == 0 ? obj : Resolve(obj, parentPath);
        switch (parent)
        {
            case JsonObject o when last.StartsWith("f:", StringComparison.Ordinal):
                o.Remove(last[2..]);
                break;
            case JsonArray a when Step(a, last) is { } item:
                a.Remove(item);
                break;
        }
    }

    private static string Describe(List<string> leaf) =>
        "." + string.Join("", leaf.Where(k => k != ".").Select(k => k.StartsWith("f:", StringComparison.Ordinal) ? "." + k[2..] : $"[{k[2..]}]")).TrimStart('.');

    /// <summary>The applied object without the server's metadata, ready to merge.</summary>
    private static JsonObject Strip(JsonObject intent)
    {
        var copy = intent.DeepClone().AsObject();
        if (copy["metadata"] is JsonObject meta)
        {
            foreach (var k in new[] { "managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink" }) meta.Remove(k);
        }
        return copy;
    }

    /// <summary>A timestamp in the form managedFields use.</summary>
    public static string Timestamp(DateTimeOffset now) => now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
