using System.Text.Json.Nodes;
using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster.Discovery;

/// <summary>
/// OpenAPI v3 (<c>/openapi/v3</c> and <c>/openapi/v3/apis/G/V</c>): every served resource's paths, the PATCH
/// operations tagged with their group/version/kind and declaring the <c>fieldValidation</c> parameter (kubectl reads
/// that to leave validation to the server), and custom resources' schemas. Built-in kinds have no schema here, and
/// their PATCH operations do not offer strategic merge patch in OpenAPI, so kubectl computes strategic patches for
/// them from its compiled-in types, as it does when a server publishes no OpenAPI.
/// </summary>
public static class OpenApiDocuments
{
    private static readonly JsonObject[] WriteParameters =
    [
        Query("dryRun", "When present, indicates that modifications should not be persisted."),
        Query("fieldManager", "A name associated with the actor or entity that is making these changes."),
        Query("fieldValidation", "Ignore, Warn or Strict: how unknown or duplicate fields in the object are treated."),
        Query("pretty", "If 'true', then the output is pretty printed."),
    ];

    public static JsonObject Index(ResourceRegistry registry)
    {
        var paths = new JsonObject();
        foreach (var (group, versions) in registry.Groups())
        {
            foreach (var v in versions)
            {
                var key = group.Length == 0 ? $"api/{v}" : $"apis/{group}/{v}";
                var doc = GroupVersion(registry, group, v)!;
                paths[key] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/{key}?hash={DiscoveryDocuments.Hash(doc.ToJsonString())}" };
            }
        }
        return new JsonObject { ["paths"] = paths };
    }

    public static JsonObject? GroupVersion(ResourceRegistry registry, string group, string version)
    {
        var types = registry.All.Where(t => t.Group == group && t.Version == version).OrderBy(t => t.Resource, StringComparer.Ordinal).ToList();
        if (types.Count == 0) return null;
        var paths = new JsonObject();
        var schemas = new JsonObject();
        var prefix = group.Length == 0 ? $"/api/{version}" : $"/apis/{group}/{version}";
        foreach (var t in types)
        {
            var gvk = new JsonObject { ["group"] = t.Group, ["version"] = t.Version, ["kind"] = t.Kind };
            var schemaName = SchemaName(t);
            var collection = t.Namespaced ? $"{prefix}/namespaces/{{namespace}}/{t.Resource}" : $"{prefix}/{t.Resource}";
            paths[collection] = new JsonObject
            {
                ["get"] = Operation($"list{t.Kind}", gvk, "list", [], null),
                ["post"] = Operation($"create{t.Kind}", gvk, "post", WriteParameters, Body(["application/json"], schemaName, t)),
                ["delete"] = Operation($"deletecollection{t.Kind}", gvk, "deletecollection", [], null),
                ["parameters"] = PathParameters(t.Namespaced, named: false),
            };
            var item = $"{collection}/{{name}}";
            paths[item] = new JsonObject
            {
                ["get"] = Operation($"read{t.Kind}", gvk, "get", [], null),
                ["put"] = Operation($"replace{t.Kind}", gvk, "put", WriteParameters, Body(["application/json"], schemaName, t)),
                ["patch"] = Operation($"patch{t.Kind}", gvk, "patch", WriteParameters, PatchBody(t)),
                ["delete"] = Operation($"delete{t.Kind}", gvk, "delete", [Query("dryRun", "When present, indicates that modifications should not be persisted."), Query("propagationPolicy", "Orphan, Background or Foreground.")], null),
                ["parameters"] = PathParameters(t.Namespaced, named: true),
            };
            if (t.HasStatus)
            {
                paths[$"{item}/status"] = new JsonObject
                {
                    ["get"] = Operation($"read{t.Kind}Status", gvk, "get", [], null),
                    ["put"] = Operation($"replace{t.Kind}Status", gvk, "put", WriteParameters, Body(["application/json"], schemaName, t)),
                    ["patch"] = Operation($"patch{t.Kind}Status", gvk, "patch", WriteParameters, PatchBody(t)),
                    ["parameters"] = PathParameters(t.Namespaced, named: true),
                };
            }
            if (t.Schema is not null)
            {
                var schema = t.Schema.Source.DeepClone().AsObject();
                if (schema["properties"] is not JsonObject props) schema["properties"] = props = new JsonObject();
                props["apiVersion"] = new JsonObject { ["type"] = "string", ["description"] = "APIVersion defines the versioned schema of this representation of an object." };
                props["kind"] = new JsonObject { ["type"] = "string", ["description"] = "Kind is a string value representing the REST resource this object represents." };
                props["metadata"] = new JsonObject { ["type"] = "object", ["description"] = "Standard object's metadata.", ["x-kubernetes-preserve-unknown-fields"] = true };
                schema["x-kubernetes-group-version-kind"] = new JsonArray(gvk.DeepClone());
                schemas[schemaName] = schema;
            }
        }
        return new JsonObject
        {
            ["openapi"] = "3.0.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = DiscoveryDocuments.KubernetesVersion },
            ["paths"] = paths,
            ["components"] = new JsonObject { ["schemas"] = schemas },
        };
    }

    private static string SchemaName(ResourceType t)
    {
        var reversed = t.Group.Length == 0 ? "io.k8s.api.core" : string.Join('.', t.Group.Split('.').Reverse());
        return $"{reversed}.{t.Version}.{t.Kind}";
    }

    private static JsonObject Operation(string id, JsonObject gvk, string action, IReadOnlyList<JsonObject> parameters, JsonObject? body)
    {
        var op = new JsonObject
        {
            ["operationId"] = id,
            ["x-kubernetes-action"] = action,
            ["x-kubernetes-group-version-kind"] = gvk.DeepClone(),
            ["parameters"] = new JsonArray(parameters.Select(p => (JsonNode)p.DeepClone()).ToArray()),
            ["responses"] = new JsonObject { ["200"] = new JsonObject { ["description"] = "OK" } },
        };
        if (body is not null) op["requestBody"] = body;
        return op;
    }

    private static JsonObject PatchBody(ResourceType t)
    {
        // Strategic merge is served for built-in kinds but not announced (see the class remarks); custom resources
        // do not take it at all, as on a real server.
        return Body(["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"], null, t);
    }

    private static JsonObject Body(IReadOnlyList<string> mediaTypes, string? schemaName, ResourceType t)
    {
        var content = new JsonObject();
        foreach (var m in mediaTypes)
        {
            content[m] = new JsonObject
            {
                ["schema"] = schemaName is not null && t.Schema is not null
                    ? new JsonObject { ["$ref"] = $"#/components/schemas/{schemaName}" }
                    : new JsonObject { ["type"] = "object" },
            };
        }
        return new JsonObject { ["content"] = content, ["required"] = true };
    }

    private static JsonArray PathParameters(bool namespaced, bool named)
    {
        var list = new JsonArray();
        if (named) list.Add(Path("name", "name of the object"));
        if (namespaced) list.Add(Path("namespace", "object name and auth scope, such as for teams and projects"));
        return list;
    }

    private static JsonObject Path(string name, string description) => new()
    {
        ["name"] = name, ["in"] = "path", ["description"] = description, ["required"] = true, ["schema"] = new JsonObject { ["type"] = "string" },
    };

    private static JsonObject Query(string name, string description) => new()
    {
        ["name"] = name, ["in"] = "query", ["description"] = description, ["schema"] = new JsonObject { ["type"] = "string", ["uniqueItems"] = true },
    };
}
