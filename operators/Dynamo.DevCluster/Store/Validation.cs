using System.Text.RegularExpressions;

namespace Dynamo.DevCluster.Store;

/// <summary>Name rules the real server applies.</summary>
public static partial class Validation
{
    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1123Label();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Dns1123Subdomain();

    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1035Label();

    [GeneratedRegex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")]
    private static partial Regex QualifiedName();

    [GeneratedRegex("^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")]
    private static partial Regex LabelValue();

    /// <summary>
    /// The metadata rules every kind shares: label keys and values, annotation keys and total size, owner references
    /// (apiVersion, kind, name and uid set; at most one controller) and finalizer names.
    /// </summary>
    public static void ValidateMetadata(ResourceType type, System.Text.Json.Nodes.JsonObject obj)
    {
        var meta = obj["metadata"] as System.Text.Json.Nodes.JsonObject;
        if (meta is null) return;
        var name = (string?)meta["name"] ?? "";
        var causes = new List<StatusCause>();
        if (meta["labels"] is System.Text.Json.Nodes.JsonObject labels)
        {
            foreach (var (key, value) in labels)
            {
                if (!IsQualifiedName(key))
                    causes.Add(new StatusCause($"metadata.labels", $"Invalid value: \"{key}\": a label key must be an optional DNS subdomain prefix and '/', then a name of at most 63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric"));
                var text = value is System.Text.Json.Nodes.JsonValue v && v.TryGetValue<string>(out var str) ? str : null;
                if (text is null || text.Length > 63 || !LabelValue().IsMatch(text))
                    causes.Add(new StatusCause($"metadata.labels", $"Invalid value: \"{value?.ToJsonString()}\": a label value must be a string of at most 63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric"));
            }
        }
        if (meta["annotations"] is System.Text.Json.Nodes.JsonObject annotations)
        {
            var total = 0;
            foreach (var (key, value) in annotations)
            {
                if (!IsQualifiedName(key))
                    causes.Add(new StatusCause("metadata.annotations", $"Invalid value: \"{key}\": an annotation key must be a qualified name (optional DNS subdomain prefix and '/', then a name)"));
                if (value is not System.Text.Json.Nodes.JsonValue av || !av.TryGetValue<string>(out var annotation))
                    causes.Add(new StatusCause("metadata.annotations", $"Invalid value: annotation \"{key}\" must be a string"));
                else
                    total += key.Length + annotation.Length;
            }
            if (total > 256 * 1024)
                causes.Add(new StatusCause("metadata.annotations", $"Too long: must have at most 262144 bytes (have {total})", "FieldValueTooLong"));
        }
        if (meta["ownerReferences"] is System.Text.Json.Nodes.JsonArray owners)
        {
            var controllers = 0;
            for (var i = 0; i < owners.Count; i++)
            {
                foreach (var field in new[] { "apiVersion", "kind", "name", "uid" })
                {
                    if (owners[i]?[field] is not System.Text.Json.Nodes.JsonValue f || !f.TryGetValue<string>(out var fv) || fv.Length == 0)
                        causes.Add(new StatusCause($"metadata.ownerReferences[{i}].{field}", "Required value", "FieldValueRequired"));
                }
                if (owners[i]?["controller"] is System.Text.Json.Nodes.JsonValue c && c.TryGetValue<bool>(out var isController) && isController) controllers++;
            }
            if (controllers > 1)
                causes.Add(new StatusCause("metadata.ownerReferences", "Invalid value: Only one reference can have Controller set to true"));
        }
        if (meta["finalizers"] is System.Text.Json.Nodes.JsonArray finalizers)
        {
            for (var i = 0; i < finalizers.Count; i++)
            {
                var f = finalizers[i] is System.Text.Json.Nodes.JsonValue fv && fv.TryGetValue<string>(out var fs) ? fs : null;
                if (f is null || !IsQualifiedName(f))
                    causes.Add(new StatusCause($"metadata.finalizers[{i}]", $"Invalid value: \"{finalizers[i]?.ToJsonString()}\": a finalizer name must be a qualified name"));
            }
        }
        if (causes.Count > 0) throw ApiException.Invalid(type, name, causes);
    }

    private static bool IsQualifiedName(string key)
    {
        var slash = key.LastIndexOf('/');
        var local = slash < 0 ? key : key[(slash + 1)..];
        var prefix = slash < 0 ? "" : key[..slash];
        return local.Length is > 0 and <= 63 && prefix.Length <= 253 && QualifiedName().IsMatch(key);
    }

    public static void ValidateObjectName(ResourceType type, string name)
    {
        string? problem = type.StorageKey switch
        {
            "namespaces" => name.Length <= 63 && Dns1123Label().IsMatch(name) ? null
                : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (at most 63 characters)",
            "services" => name.Length <= 63 && Dns1035Label().IsMatch(name) ? null
                : "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (at most 63 characters)",
            _ => name.Length <= 253 && Dns1123Subdomain().IsMatch(name) ? null
                : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (at most 253 characters)",
        };
        if (problem is not null)
            throw ApiException.Invalid(type, name, [new StatusCause("metadata.name", $"Invalid value: \"{name}\": {problem}")]);
    }
}
