using System.Collections;
using System.ComponentModel;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.Operator.Api;
using k8s.Models;

namespace Dynamo.Operator.Schema;

/// <summary>
/// Generates the CustomResourceDefinitions of the operator's kinds from the C# API types: a structural OpenAPI v3
/// schema (descriptions, enums, bounds, patterns, required fields, list-map keys from the attributes in
/// <see cref="Schema"/>), printer columns, and the status and scale subresources. The checked-in files under
/// <c>operators/crds/</c> are its output (<c>dynamo operator crds --out operators/crds</c>); a test fails when they drift.
/// </summary>
public static class CrdGenerator
{
    /// <summary>The CRDs, each with the file name it is written under.</summary>
    public static IReadOnlyList<(string FileName, JsonObject Crd)> All() =>
    [
        ($"{GraphApi.Group}_{GraphApi.GraphPlural}.yaml", Graph()),
        ($"{GraphApi.Group}_{GraphApi.AdapterPlural}.yaml", Adapter()),
    ];

    public static JsonObject Graph() => Crd(
        typeof(DynamoGraphDeployment), GraphApi.GraphKind, GraphApi.GraphPlural, GraphApi.GraphSingular, GraphApi.GraphShortName,
        new JsonObject { ["status"] = new JsonObject() },
        [
            Column("State", "string", ".status.state", "pending, successful or failed."),
            Column("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status", "Whether every component has its pods ready."),
            Column("Reason", "string", ".status.conditions[?(@.type==\"Ready\")].reason", "Why (or why not) ready.", priority: 1),
            Column("Age", "date", ".metadata.creationTimestamp", null),
        ]);

    public static JsonObject Adapter() => Crd(
        typeof(DynamoGraphDeploymentScalingAdapter), GraphApi.AdapterKind, GraphApi.AdapterPlural, GraphApi.AdapterSingular, GraphApi.AdapterShortName,
        new JsonObject
        {
            ["status"] = new JsonObject(),
            ["scale"] = new JsonObject
            {
                ["specReplicasPath"] = ".spec.replicas",
                ["statusReplicasPath"] = ".status.replicas",
                ["labelSelectorPath"] = ".status.selector",
            },
        },
        [
            Column("Graph", "string", ".spec.dgdRef.name", "The DynamoGraphDeployment."),
            Column("Component", "string", ".spec.dgdRef.component", "The component scaled."),
            Column("Group", "string", ".spec.dgdRef.scalingGroup", "The scaling group scaled."),
            Column("Desired", "integer", ".spec.replicas", "Replicas wanted."),
            Column("Current", "integer", ".status.replicas", "Replicas that exist."),
            Column("Ready", "integer", ".status.readyReplicas", "Replicas ready."),
            Column("Age", "date", ".metadata.creationTimestamp", null),
        ]);

    private static JsonObject Crd(Type root, string kind, string plural, string singular, string shortName, JsonObject subresources, JsonArray columns)
    {
        var schema = ObjectSchema(root);
        var properties = (JsonObject)schema["properties"]!;
        properties["apiVersion"] = Described(new JsonObject { ["type"] = "string" }, "APIVersion defines the versioned schema of this representation of an object.");
        properties["kind"] = Described(new JsonObject { ["type"] = "string" }, "Kind is a string value representing the REST resource this object represents.");
        properties["metadata"] = new JsonObject { ["type"] = "object" };
        return new JsonObject
        {
            ["apiVersion"] = "apiextensions.k8s.io/v1",
            ["kind"] = "CustomResourceDefinition",
            ["metadata"] = new JsonObject
            {
                ["name"] = $"{plural}.{GraphApi.Group}",
                ["labels"] = new JsonObject { [GraphApi.NameLabel] = GraphApi.PartOfValue, [GraphApi.ManagedByLabel] = "dynamo-operator-crds" },
            },
            ["spec"] = new JsonObject
            {
                ["group"] = GraphApi.Group,
                ["names"] = new JsonObject
                {
                    ["kind"] = kind,
                    ["listKind"] = kind + "List",
                    ["plural"] = plural,
                    ["singular"] = singular,
                    ["shortNames"] = new JsonArray(shortName),
                    ["categories"] = new JsonArray("dynamo"),
                },
                ["scope"] = "Namespaced",
                ["versions"] = new JsonArray(new JsonObject
                {
                    ["name"] = GraphApi.Version,
                    ["served"] = true,
                    ["storage"] = true,
                    ["schema"] = new JsonObject { ["openAPIV3Schema"] = schema },
                    ["subresources"] = subresources,
                    ["additionalPrinterColumns"] = columns,
                }),
            },
        };
    }

    private static JsonObject Column(string name, string type, string path, string? description, int priority = 0)
    {
        var column = new JsonObject { ["name"] = name, ["type"] = type, ["jsonPath"] = path };
        if (description is not null) column["description"] = description;
        if (priority != 0) column["priority"] = priority;
        return column;
    }

    private static JsonObject Described(JsonObject schema, string? description)
    {
        if (description is not null) schema["description"] = description;
        return schema;
    }

    /// <summary>The camelCase JSON name of a property, as KubernetesJson writes it.</summary>
    public static string JsonName(PropertyInfo property) => JsonNamingPolicy.CamelCase.ConvertName(property.Name);

    private static JsonObject ObjectSchema(Type type)
    {
        var properties = new JsonObject();
        var required = new JsonArray();
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.MetadataToken))
        {
            if (type.IsAssignableTo(typeof(k8s.IKubernetesObject)) && property.Name is "ApiVersion" or "Kind" or "Metadata")
            {
                continue;
            }

            var name = JsonName(property);
            properties[name] = PropertySchema(property);
            if (property.GetCustomAttribute<RequiredFieldAttribute>() is not null)
            {
                required.Add(name);
            }
        }

        var schema = Described(new JsonObject { ["type"] = "object" }, type.GetCustomAttribute<DescriptionAttribute>()?.Description);
        schema["properties"] = properties;
        if (required.Count > 0) schema["required"] = required;
        return schema;
    }

    private static JsonObject PropertySchema(PropertyInfo property)
    {
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        var schema = TypeSchema(type, property);
        if (property.GetCustomAttribute<DescriptionAttribute>() is { } description)
        {
            // The property's own description wins over its type's.
            schema["description"] = description.Description;
        }

        if (property.GetCustomAttribute<EnumValuesAttribute>() is { } values)
        {
            schema["enum"] = new JsonArray([.. values.Values.Select(v => (JsonNode)v)]);
        }

        if (property.GetCustomAttribute<RangeAttribute>() is { } range)
        {
            if (range.Minimum != long.MinValue) schema["minimum"] = range.Minimum;
            if (range.Maximum != long.MaxValue) schema["maximum"] = range.Maximum;
        }

        if (property.GetCustomAttribute<PatternAttribute>() is { } pattern)
        {
            schema["pattern"] = pattern.Pattern;
            if (pattern.MaxLength > 0) schema["maxLength"] = pattern.MaxLength;
        }

        if (property.GetCustomAttribute<MinItemsAttribute>() is { } minItems)
        {
            schema["minItems"] = minItems.Count;
        }

        if (property.GetCustomAttribute<ListMapKeyAttribute>() is { } key)
        {
            schema["x-kubernetes-list-type"] = "map";
            schema["x-kubernetes-list-map-keys"] = new JsonArray(key.Key);
        }

        return Order(schema);
    }

    private static JsonObject TypeSchema(Type type, PropertyInfo property)
    {
        if (property.GetCustomAttribute<FreeFormAttribute>() is not null)
        {
            return new JsonObject { ["type"] = "object", ["x-kubernetes-preserve-unknown-fields"] = true };
        }

        if (type == typeof(string)) return new JsonObject { ["type"] = "string" };
        if (type == typeof(bool)) return new JsonObject { ["type"] = "boolean" };
        if (type == typeof(int)) return new JsonObject { ["type"] = "integer", ["format"] = "int32" };
        if (type == typeof(long)) return new JsonObject { ["type"] = "integer", ["format"] = "int64" };
        if (type == typeof(V1Condition)) return ConditionSchema();
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            var value = property.GetCustomAttribute<IntOrStringAttribute>() is not null
                ? new JsonObject { ["x-kubernetes-int-or-string"] = true, ["anyOf"] = new JsonArray(new JsonObject { ["type"] = "integer" }, new JsonObject { ["type"] = "string" }) }
                : TypeSchema(type.GetGenericArguments()[1], property);
            return new JsonObject { ["type"] = "object", ["additionalProperties"] = value };
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            var item = type.GetGenericArguments()[0];
            return new JsonObject { ["type"] = "array", ["items"] = item.IsClass && item != typeof(string) && item != typeof(V1Condition) ? ObjectSchema(item) : TypeSchema(item, property) };
        }

        if (type.IsClass && !typeof(IEnumerable).IsAssignableFrom(type))
        {
            return ObjectSchema(type);
        }

        throw new NotSupportedException($"CrdGenerator: property {property.DeclaringType?.Name}.{property.Name} of type {type.Name} has no schema mapping");
    }

    /// <summary>metav1.Condition, as the upstream CRDs describe it.</summary>
    private static JsonObject ConditionSchema() => new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject
        {
            ["type"] = new JsonObject { ["type"] = "string", ["description"] = "The condition: Ready, Progressing or Degraded." },
            ["status"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray("True", "False", "Unknown") },
            ["observedGeneration"] = new JsonObject { ["type"] = "integer", ["format"] = "int64", ["minimum"] = 0 },
            ["lastTransitionTime"] = new JsonObject { ["type"] = "string", ["format"] = "date-time" },
            ["reason"] = new JsonObject { ["type"] = "string", ["description"] = "A CamelCase word saying why." },
            ["message"] = new JsonObject { ["type"] = "string", ["description"] = "What a person needs to know, in a sentence." },
        },
        ["required"] = new JsonArray("type", "status", "lastTransitionTime", "reason", "message"),
    };

    /// <summary>Puts <c>description</c> and <c>type</c> first, for readable files.</summary>
    private static JsonObject Order(JsonObject schema)
    {
        var ordered = new JsonObject();
        foreach (var first in new[] { "description", "type" })
        {
            if (schema.Remove(first, out var value)) ordered[first] = value;
        }

        foreach (var (key, value) in schema.ToList())
        {
            schema.Remove(key);
            ordered[key] = value;
        }

        return ordered;
    }
}
