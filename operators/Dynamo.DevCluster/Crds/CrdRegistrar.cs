using System.Globalization;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Schema;
using Dynamo.DevCluster.Store;
using Microsoft.Extensions.Logging;

namespace Dynamo.DevCluster.Crds;

/// <summary>
/// Validates CustomResourceDefinitions, writes their status (acceptedNames, NamesAccepted and Established
/// conditions, storedVersions) and registers or removes the resources they define when they are stored.
/// </summary>
internal sealed partial class CrdRegistrar : IAdmission, IStoreController
{
    private const string CrdStorageKey = "customresourcedefinitions.apiextensions.k8s.io";

    /// <summary>Holds a deleted CRD until its objects are gone (and their own finalizers have let them go).</summary>
    internal const string CleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io";
    private readonly ObjectStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public CrdRegistrar(ObjectStore store, TimeProvider time, ILogger logger)
    {
        _store = store;
        _time = time;
        _logger = logger;
    }

    public void Admit(ResourceType type, JsonObject obj, JsonObject? old, WriteTarget target, WriteOptions options)
    {
        if (type.IsCustom && old is null)
        {
            // A CRD's name is its storage key (plural.group).
            var crds = _store.Registry.FindStorage(CrdStorageKey)!;
            if (_store.TryGetUnlocked(crds, type.StorageKey) is { } crd && crd["metadata"]?["deletionTimestamp"] is not null)
                throw ApiException.MethodNotAllowed($"create not allowed while custom resource definition {type.StorageKey} is terminating");
        }
        if (type.StorageKey != CrdStorageKey) return;
        if (old is null)
        {
            var meta = JsonPaths.Metadata(obj);
            var finalizers = meta["finalizers"] as JsonArray ?? [];
            if (!finalizers.Any(f => (string?)f == CleanupFinalizer)) finalizers.Add(CleanupFinalizer);
            meta["finalizers"] = finalizers;
        }
        var name = JsonPaths.GetString(obj, "metadata.name") ?? "";
        var (_, causes) = Build(obj);
        if (old is not null)
        {
            if (JsonPaths.GetString(old, "spec.group") is { } oldGroup && JsonPaths.GetString(obj, "spec.group") != oldGroup)
                causes.Add(new StatusCause("spec.group", "Invalid value: field is immutable"));
            if (JsonPaths.GetString(old, "spec.scope") is { } oldScope && JsonPaths.GetString(obj, "spec.scope") != oldScope)
                causes.Add(new StatusCause("spec.scope", "Invalid value: field is immutable"));
        }
        if (causes.Count > 0) throw ApiException.Invalid(type, name, causes);
        WriteStatus(obj, old);
    }

    public void Committed(ResourceType type, string eventType, JsonObject obj)
    {
        if (type.StorageKey != CrdStorageKey) return;
        var group = JsonPaths.GetString(obj, "spec.group")!;
        var plural = JsonPaths.GetString(obj, "spec.names.plural")!;
        var storageKey = $"{plural}.{group}";
        if (eventType == "DELETED")
        {
            // Normally empty by now (the cleanup finalizer waited); a CRD stored without it leaves objects behind.
            if (_store.Registry.FindStorage(storageKey) is { } existing) _store.DropAll(existing);
            _store.Registry.Replace(storageKey, []);
            LogUnregistered(_logger, storageKey);
            return;
        }
        if (JsonPaths.GetString(obj, "metadata.deletionTimestamp") is not null) return;
        var (versions, _) = Build(obj);
        if (NamesConflict(obj) is not null) return;
        _store.Registry.Replace(storageKey, versions);
        LogRegistered(_logger, storageKey, string.Join(",", versions.Select(v => v.Version)));
    }

    /// <summary>Empties terminating CRDs: deletes their objects, then lets the CRD go once none is left.</summary>
    public bool Reconcile()
    {
        var crds = _store.Registry.FindStorage(CrdStorageKey)!;
        var changed = false;
        foreach (var crd in _store.ListUnlocked(crds).ToList())
        {
            if (crd["metadata"]?["deletionTimestamp"] is null || !ObjectStore.Finalizers(crd).Contains(CleanupFinalizer)) continue;
            var storageKey = JsonPaths.GetString(crd, "metadata.name")!;
            var type = _store.Registry.FindStorage(storageKey);
            var remaining = type is null ? [] : _store.ListUnlocked(type).ToList();
            foreach (var obj in remaining) changed |= _store.DeleteUnlocked(type!, obj);
            if (remaining.Count == 0)
            {
                _store.RemoveFinalizerUnlocked(crds, crd, CleanupFinalizer);
                changed = true;
            }
        }
        return changed;
    }

    /// <summary>The served versions a CRD defines, and what is wrong with it.</summary>
    internal static (List<ResourceType> Versions, List<StatusCause> Causes) Build(JsonObject crd)
    {
        var causes = new List<StatusCause>();
        var spec = crd["spec"] as JsonObject;
        var group = JsonPaths.GetString(spec, "group");
        var plural = JsonPaths.GetString(spec, "names.plural");
        var kind = JsonPaths.GetString(spec, "names.kind");
        var scope = JsonPaths.GetString(spec, "scope");
        var name = JsonPaths.GetString(crd, "metadata.name");
        if (string.IsNullOrEmpty(group)) causes.Add(new StatusCause("spec.group", "Required value", "FieldValueRequired"));
        else if (!group.Contains('.')) causes.Add(new StatusCause("spec.group", $"Invalid value: \"{group}\": should be a domain with at least one dot"));
        if (string.IsNullOrEmpty(plural)) causes.Add(new StatusCause("spec.names.plural", "Required value", "FieldValueRequired"));
        else if (!System.Text.RegularExpressions.Regex.IsMatch(plural, "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))
            causes.Add(new StatusCause("spec.names.plural", $"Invalid value: \"{plural}\": a lowercase RFC 1123 label"));
        if (string.IsNullOrEmpty(kind)) causes.Add(new StatusCause("spec.names.kind", "Required value", "FieldValueRequired"));
        if (scope is not ("Namespaced" or "Cluster"))
            causes.Add(new StatusCause("spec.scope", $"Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\"", "FieldValueNotSupported"));
        if (group is not null && plural is not null && name != $"{plural}.{group}")
            causes.Add(new StatusCause("metadata.name", $"Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"));
        if (spec?["preserveUnknownFields"] is JsonValue puf && puf.TryGetValue<bool>(out var preserve) && preserve)
            causes.Add(new StatusCause("spec.preserveUnknownFields", "Invalid value: true: must be false in order to use defaulting, pruning and validation (use x-kubernetes-preserve-unknown-fields in the schema)"));
        if (JsonPaths.GetString(spec, "conversion.strategy") is { } strategy && strategy != "None")
            causes.Add(new StatusCause("spec.conversion.strategy", $"Unsupported value: \"{strategy}\": the dev cluster serves every version from one storage without conversion (use None)", "FieldValueNotSupported"));

        var versions = new List<ResourceType>();
        if (spec?["versions"] is not JsonArray { Count: > 0 } list)
        {
            causes.Add(new StatusCause("spec.versions", "Required value: must have exactly one version marked as storage version", "FieldValueRequired"));
            return (versions, causes);
        }
        var storageCount = 0;
        var singular = JsonPaths.GetString(spec, "names.singular") ?? kind?.ToLowerInvariant() ?? "";
        var shortNames = Strings(spec, "names.shortNames");
        var categories = Strings(spec, "names.categories");
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] is not JsonObject v) continue;
            var path = $"spec.versions[{i}]";
            var version = (string?)v["name"];
            if (string.IsNullOrEmpty(version)) causes.Add(new StatusCause($"{path}.name", "Required value", "FieldValueRequired"));
            if (v["storage"] is JsonValue st && st.TryGetValue<bool>(out var storage) && storage) storageCount++;
            StructuralSchema? schema = null;
            if (JsonPaths.Get(v, "schema.openAPIV3Schema") is JsonObject raw)
            {
                schema = StructuralSchema.Parse(raw, $"{path}.schema.openAPIV3Schema", causes);
                if (schema.Type != "object")
                    causes.Add(new StatusCause($"{path}.schema.openAPIV3Schema.type", "Required value: must be object at the root", "FieldValueRequired"));
            }
            else
            {
                causes.Add(new StatusCause($"{path}.schema.openAPIV3Schema", "Required value: schemas are required", "FieldValueRequired"));
            }
            ScaleSubresource? scale = null;
            if (JsonPaths.Get(v, "subresources.scale") is JsonObject sc)
            {
                var specPath = (string?)sc["specReplicasPath"];
                var statusPath = (string?)sc["statusReplicasPath"];
                if (specPath is null || !specPath.StartsWith(".spec.", StringComparison.Ordinal))
                    causes.Add(new StatusCause($"{path}.subresources.scale.specReplicasPath", $"Invalid value: \"{specPath}\": should be a json path under .spec"));
                if (statusPath is null || !statusPath.StartsWith(".status.", StringComparison.Ordinal))
                    causes.Add(new StatusCause($"{path}.subresources.scale.statusReplicasPath", $"Invalid value: \"{statusPath}\": should be a json path under .status"));
                scale = new ScaleSubresource(specPath ?? "", statusPath ?? "", (string?)sc["labelSelectorPath"]);
            }
            var columns = new List<PrinterColumn>();
            if (v["additionalPrinterColumns"] is JsonArray cols)
            {
                for (var c = 0; c < cols.Count; c++)
                {
                    if (cols[c] is not JsonObject col) continue;
                    var colName = (string?)col["name"];
                    var colType = (string?)col["type"];
                    var jsonPath = (string?)col["jsonPath"];
                    if (colName is null || colType is null || jsonPath is null)
                    {
                        causes.Add(new StatusCause($"{path}.additionalPrinterColumns[{c}]", "Required value: name, type and jsonPath are required", "FieldValueRequired"));
                        continue;
                    }
                    try
                    {
                        Tables.JsonPathExpression.Parse(jsonPath);
                    }
                    catch (FormatException e)
                    {
                        causes.Add(new StatusCause($"{path}.additionalPrinterColumns[{c}].jsonPath", $"Invalid value: \"{jsonPath}\": {e.Message}"));
                        continue;
                    }
                    if (colType is not ("integer" or "number" or "string" or "boolean" or "date"))
                        causes.Add(new StatusCause($"{path}.additionalPrinterColumns[{c}].type", $"Unsupported value: \"{colType}\": supported values: \"boolean\", \"date\", \"integer\", \"number\", \"string\"", "FieldValueNotSupported"));
                    columns.Add(new PrinterColumn(colName, colType, jsonPath, (string?)col["description"],
                        (int)(JsonPaths.GetLong(col, "priority") ?? 0), (string?)col["format"]));
                }
            }
            var served = v["served"] is JsonValue sv && sv.TryGetValue<bool>(out var s) && s;
            if (!served || version is null || group is null || plural is null || kind is null) continue;
            versions.Add(new ResourceType
            {
                Group = group,
                Version = version,
                Resource = plural,
                Kind = kind,
                Singular = singular,
                Namespaced = scope == "Namespaced",
                ShortNames = shortNames,
                Categories = categories,
                HasStatus = JsonPaths.Get(v, "subresources.status") is JsonObject,
                Scale = scale,
                Schema = schema,
                PrinterColumns = columns,
                IsCustom = true,
                DeprecationWarning = v["deprecated"] is JsonValue dep && dep.TryGetValue<bool>(out var deprecated) && deprecated
                    ? (string?)v["deprecationWarning"] ?? $"{group}/{version} {kind} is deprecated"
                    : null,
            });
        }
        if (storageCount != 1)
            causes.Add(new StatusCause("spec.versions", $"Invalid value: must have exactly one version marked as storage version, found {storageCount}"));
        return (versions, causes);
    }

    private string? NamesConflict(JsonObject crd)
    {
        var group = JsonPaths.GetString(crd, "spec.group");
        var kind = JsonPaths.GetString(crd, "spec.names.kind");
        var plural = JsonPaths.GetString(crd, "spec.names.plural");
        var shortNames = Strings(crd["spec"] as JsonObject, "names.shortNames");
        foreach (var t in _store.Registry.All)
        {
            if (t.Group != group || t.StorageKey == $"{plural}.{group}") continue;
            if (t.Kind == kind) return $"\"{kind}\" is already in use";
            var clash = t.ShortNames.Intersect(shortNames).FirstOrDefault();
            if (clash is not null) return $"\"{clash}\" is already in use";
        }
        return null;
    }

    private void WriteStatus(JsonObject crd, JsonObject? old)
    {
        var spec = crd["spec"]!.AsObject();
        var names = spec["names"]!.DeepClone().AsObject();
        names["singular"] ??= JsonPaths.GetString(spec, "names.kind")!.ToLowerInvariant();
        names["listKind"] ??= JsonPaths.GetString(spec, "names.kind") + "List";
        var conflict = NamesConflict(crd);
        var now = _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var oldConditions = JsonPaths.Get(old, "status.conditions") as JsonArray;
        JsonObject Condition(string type, bool ok, string reason, string message)
        {
            var status = ok ? "True" : "False";
            var previous = oldConditions?.OfType<JsonObject>().FirstOrDefault(c => (string?)c["type"] == type && (string?)c["status"] == status);
            return new JsonObject
            {
                ["type"] = type,
                ["status"] = status,
                ["lastTransitionTime"] = (string?)previous?["lastTransitionTime"] ?? now,
                ["reason"] = reason,
                ["message"] = message,
            };
        }
        var storedVersions = (JsonPaths.Get(old, "status.storedVersions") as JsonArray)?.Select(v => (string?)v).OfType<string>().ToList() ?? [];
        var storageVersion = (spec["versions"] as JsonArray)?.OfType<JsonObject>()
            .FirstOrDefault(v => v["storage"] is JsonValue s && s.TryGetValue<bool>(out var b) && b)?["name"]?.GetValue<string>();
        if (storageVersion is not null && !storedVersions.Contains(storageVersion)) storedVersions.Add(storageVersion);
        crd["status"] = new JsonObject
        {
            ["acceptedNames"] = conflict is null ? names : new JsonObject { ["plural"] = "", ["kind"] = "" },
            ["conditions"] = new JsonArray(
                Condition("NamesAccepted", conflict is null, conflict is null ? "NoConflicts" : "MultipleNamesNotAllowed", conflict ?? "no conflicts found"),
                Condition("Established", conflict is null, conflict is null ? "InitialNamesAccepted" : "NotAccepted",
                    conflict is null ? "the initial names have been accepted" : "not all names are accepted")),
            ["storedVersions"] = new JsonArray(storedVersions.Select(v => (JsonNode)v).ToArray()),
        };
    }

    private static List<string> Strings(JsonObject? obj, string path) =>
        JsonPaths.Get(obj, path) is JsonArray a ? a.Select(s => (string?)s).OfType<string>().ToList() : [];

    [LoggerMessage(Level = LogLevel.Information, Message = "Registered custom resource {Resource} (versions {Versions})")]
    private static partial void LogRegistered(ILogger logger, string resource, string versions);

    [LoggerMessage(Level = LogLevel.Information, Message = "Removed custom resource {Resource} and its objects")]
    private static partial void LogUnregistered(ILogger logger, string resource);
}
