using System.Text.Json;

namespace Dynamo.Llm.Tests.Structured;

/// <summary>
/// An independent validator for the JSON Schema subset structured outputs support, written from the JSON Schema
/// rules rather than from the grammar, so that the property tests check the grammar against something else.
/// </summary>
internal static class SchemaValidator
{
    public static string? Validate(JsonElement value, JsonElement schema) => Validate(value, schema, schema, "$");

    private static string? Validate(JsonElement value, JsonElement schema, JsonElement root, string at)
    {
        if (schema.ValueKind == JsonValueKind.True)
        {
            return null;
        }

        if (schema.TryGetProperty("$ref", out var reference))
        {
            var parts = reference.GetString()!.Split('/');
            return Validate(value, root.GetProperty(parts[1]).GetProperty(parts[2]), root, at);
        }

        if (schema.TryGetProperty("anyOf", out var anyOf))
        {
            return anyOf.EnumerateArray().Any(s => Validate(value, s, root, at) is null) ? null : $"{at}: matches no anyOf alternative";
        }

        if (schema.TryGetProperty("const", out var constant) && !JsonElement.DeepEquals(value, constant))
        {
            return $"{at}: not the const";
        }

        if (schema.TryGetProperty("enum", out var options) && !options.EnumerateArray().Any(o => JsonElement.DeepEquals(o, value)))
        {
            return $"{at}: not one of the enum values";
        }

        if (schema.TryGetProperty("type", out var type))
        {
            var types = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToArray() : [type.GetString()!];
            if (!types.Any(t => HasType(value, t)))
            {
                return $"{at}: {value.ValueKind} is not {string.Join("|", types)}";
            }
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                var names = value.EnumerateObject().Select(p => p.Name).ToList();
                if (names.Count != names.Distinct().Count())
                {
                    return $"{at}: duplicate keys";
                }

                schema.TryGetProperty("properties", out var properties);
                foreach (var property in value.EnumerateObject())
                {
                    if (properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(property.Name, out var propertySchema))
                    {
                        if (Validate(property.Value, propertySchema, root, $"{at}.{property.Name}") is { } problem)
                        {
                            return problem;
                        }
                    }
                    else if (schema.TryGetProperty("additionalProperties", out var additional))
                    {
                        if (additional.ValueKind == JsonValueKind.False)
                        {
                            return $"{at}: extra key '{property.Name}'";
                        }

                        if (additional.ValueKind == JsonValueKind.Object && Validate(property.Value, additional, root, $"{at}.{property.Name}") is { } problem)
                        {
                            return problem;
                        }
                    }
                }

                if (schema.TryGetProperty("required", out var required))
                {
                    foreach (var name in required.EnumerateArray())
                    {
                        if (!names.Contains(name.GetString()!))
                        {
                            return $"{at}: missing required '{name.GetString()}'";
                        }
                    }
                }

                break;
            case JsonValueKind.Array:
                var count = value.GetArrayLength();
                if (schema.TryGetProperty("minItems", out var minItems) && count < minItems.GetInt32())
                {
                    return $"{at}: {count} items, fewer than minItems";
                }

                if (schema.TryGetProperty("maxItems", out var maxItems) && count > maxItems.GetInt32())
                {
                    return $"{at}: {count} items, more than maxItems";
                }

                if (schema.TryGetProperty("items", out var items))
                {
                    var i = 0;
                    foreach (var item in value.EnumerateArray())
                    {
                        if (Validate(item, items, root, $"{at}[{i++}]") is { } problem)
                        {
                            return problem;
                        }
                    }
                }

                break;
            case JsonValueKind.String:
                var length = value.GetString()!.EnumerateRunes().Count();
                if (schema.TryGetProperty("minLength", out var minLength) && length < minLength.GetInt32())
                {
                    return $"{at}: {length} characters, fewer than minLength";
                }

                if (schema.TryGetProperty("maxLength", out var maxLength) && length > maxLength.GetInt32())
                {
                    return $"{at}: {length} characters, more than maxLength";
                }

                break;
        }

        return null;
    }

    private static bool HasType(JsonElement value, string type) => type switch
    {
        "object" => value.ValueKind == JsonValueKind.Object,
        "array" => value.ValueKind == JsonValueKind.Array,
        "string" => value.ValueKind == JsonValueKind.String,
        "number" => value.ValueKind == JsonValueKind.Number,
        "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var d) && Math.Floor(d) == d,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => value.ValueKind == JsonValueKind.Null,
        _ => false,
    };
}
