using System.Text.Json.Nodes;

namespace Dynamo.Operator.Graph;

/// <summary>
/// Merges a component's <c>podTemplate</c> over the generated template: objects merge field by field, lists of named
/// items (containers, initContainers, env, ports, volumes, volumeMounts) merge by <c>name</c> (the generated container
/// is <c>main</c>), other lists and scalars are replaced. An explicit null removes a field.
/// </summary>
public static class PodTemplateMerge
{
    private static readonly HashSet<string> NamedLists = ["containers", "initContainers", "env", "ports", "volumes", "volumeMounts"];

    public static JsonObject Merge(JsonObject generated, JsonObject? overrides)
    {
        var result = (JsonObject)generated.DeepClone();
        if (overrides is not null)
        {
            MergeInto(result, overrides);
        }

        return result;
    }

    private static void MergeInto(JsonObject target, JsonObject source)
    {
        foreach (var (key, value) in source)
        {
            if (value is null)
            {
                target.Remove(key);
            }
            else if (value is JsonObject sourceObject && target[key] is JsonObject targetObject)
            {
                MergeInto(targetObject, sourceObject);
            }
            else if (value is JsonArray sourceArray && target[key] is JsonArray targetArray && NamedLists.Contains(key))
            {
                MergeNamed(targetArray, sourceArray);
            }
            else
            {
                target[key] = value.DeepClone();
            }
        }
    }

    private static void MergeNamed(JsonArray target, JsonArray source)
    {
        foreach (var item in source)
        {
            var name = (item as JsonObject)?["name"]?.GetValue<string>();
            var existing = name is null ? null : target.OfType<JsonObject>().FirstOrDefault(t => t["name"]?.GetValue<string>() == name);
            if (existing is not null && item is JsonObject itemObject)
            {
                MergeInto(existing, itemObject);
            }
            else
            {
                target.Add(item?.DeepClone());
            }
        }
    }
}
