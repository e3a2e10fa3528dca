using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Dynamo.Llm.Structured;

/// <summary>
/// Compiles the subset of JSON Schema that structured outputs support into grammar nodes. Every keyword is either
/// honoured, an annotation (ignored: it does not constrain), or refused: a schema is never half-applied.
/// </summary>
/// <remarks>
/// Honoured: <c>type</c> (one or an array of object, array, string, number, integer, boolean, null), <c>properties</c>,
/// <c>required</c>, <c>additionalProperties</c> (false, true or a schema; absent means true, as in JSON Schema),
/// <c>items</c>, <c>minItems</c>, <c>maxItems</c>, <c>minLength</c>, <c>maxLength</c>, <c>enum</c>, <c>const</c>,
/// <c>anyOf</c>, <c>$ref</c> to <c>#/$defs/…</c> or <c>#/definitions/…</c> (not recursive). Annotations:
/// <c>description</c>, <c>title</c>, <c>$schema</c>, <c>$id</c>, <c>$comment</c>, <c>default</c>, <c>examples</c>,
/// <c>deprecated</c>, <c>readOnly</c>, <c>writeOnly</c>. With <c>strict</c>, every object must list all its properties in
/// <c>required</c> and set <c>additionalProperties</c> to false (OpenAI's rule).
/// </remarks>
internal sealed class JsonSchemaCompiler
{
    /// <summary>Schema objects expanded at most ($ref targets count each time they are used).</summary>
    public const int MaxNodes = 2000;

    /// <summary>Schema nesting (each properties, items, anyOf or $ref step is one level).</summary>
    public const int MaxDepth = 24;

    public const int MaxProperties = 64;

    public const int MaxEnumValues = 256;

    public const int MaxLiteralBytes = 2048;

    private static readonly HashSet<string> s_annotations =
        ["description", "title", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly"];

    private static readonly JsonWriterOptions s_compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly Lazy<GrammarNode> s_anyValue = new(BuildAnyValue);

    private readonly JsonElement _root;
    private readonly bool _strict;
    private readonly Stack<string> _resolving = new();
    private int _nodes;

    private JsonSchemaCompiler(JsonElement root, bool strict)
    {
        _root = root;
        _strict = strict;
    }

    /// <summary>Any JSON value (nesting bounded by <see cref="JsonMatcher.MaxNesting"/>).</summary>
    public static GrammarNode AnyValue => s_anyValue.Value;

    /// <summary>Any JSON object: JSON mode.</summary>
    public static GrammarNode AnyObject => ((AnyOfNode)s_anyValue.Value).Alternatives[0];

    public static GrammarNode Compile(JsonElement schema, bool strict)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            throw new SchemaException("the schema must be a JSON object");
        }

        return new JsonSchemaCompiler(schema, strict).Node(schema, "#", 0);
    }

    private GrammarNode Node(JsonElement schema, string path, int depth)
    {
        if (++_nodes > MaxNodes)
        {
            throw new SchemaException($"the schema expands to more than {MaxNodes} subschemas");
        }

        if (depth > MaxDepth)
        {
            throw new SchemaException($"the schema nests deeper than {MaxDepth} levels (at {path})");
        }

        if (schema.ValueKind == JsonValueKind.True)
        {
            return AnyValue;
        }

        if (schema.ValueKind != JsonValueKind.Object)
        {
            throw new SchemaException($"{path} must be a schema object, got {schema.ValueKind}");
        }

        var keys = new HashSet<string>();
        foreach (var property in schema.EnumerateObject())
        {
            if (!s_annotations.Contains(property.Name))
            {
                keys.Add(property.Name);
            }
        }

        if (keys.Contains("$ref"))
        {
            RequireAlone(keys, "$ref", path, "$defs", "definitions");
            return Reference(schema.GetProperty("$ref"), path, depth);
        }

        keys.Remove("$defs");
        keys.Remove("definitions");
        if (keys.Contains("anyOf"))
        {
            RequireAlone(keys, "anyOf", path);
            var alternatives = schema.GetProperty("anyOf");
            if (alternatives.ValueKind != JsonValueKind.Array || alternatives.GetArrayLength() == 0)
            {
                throw new SchemaException($"'anyOf' at {path} must be a non-empty array of schemas");
            }

            var nodes = new List<GrammarNode>();
            var i = 0;
            foreach (var alternative in alternatives.EnumerateArray())
            {
                nodes.Add(Node(alternative, $"{path}/anyOf/{i++}", depth + 1));
            }

            return nodes.Count == 1 ? nodes[0] : new AnyOfNode([.. nodes]);
        }

        if (keys.Contains("enum") || keys.Contains("const"))
        {
            return Literals(schema, keys, path);
        }

        var types = Types(schema, path);
        var unsupported = keys.FirstOrDefault(k => !IsKeywordOf(k, types));
        if (unsupported is not null)
        {
            throw new SchemaException(IsKnownUnsupported(unsupported)
                ? $"the keyword '{unsupported}' (at {path}) is not supported"
                : $"the keyword '{unsupported}' (at {path}) is not supported for type {string.Join(" or ", types)}");
        }

        var alternativesByType = new List<GrammarNode>();
        foreach (var type in types)
        {
            alternativesByType.Add(type switch
            {
                "object" => Object(schema, path, depth),
                "array" => Array(schema, path, depth),
                "string" => String(schema, path),
                "number" => NumberNode.Number,
                "integer" => NumberNode.IntegerNumber,
                "boolean" => Literal(["true"u8.ToArray(), "false"u8.ToArray()]),
                "null" => Literal(["null"u8.ToArray()]),
                _ => throw new SchemaException($"'type' at {path} names an unknown type '{type}'"),
            });
        }

        return alternativesByType.Count == 1 ? alternativesByType[0] : new AnyOfNode([.. alternativesByType]);
    }

    private static string[] Types(JsonElement schema, string path)
    {
        if (!schema.TryGetProperty("type", out var type))
        {
            // No type: any value, or the type the keywords present imply.
            return schema.TryGetProperty("properties", out _) || schema.TryGetProperty("additionalProperties", out _) || schema.TryGetProperty("required", out _)
                ? ["object"]
                : schema.TryGetProperty("items", out _) ? ["array"]
                : ["object", "array", "string", "number", "boolean", "null"];
        }

        if (type.ValueKind == JsonValueKind.String)
        {
            return [type.GetString()!];
        }

        if (type.ValueKind == JsonValueKind.Array && type.GetArrayLength() > 0 && type.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String))
        {
            var types = type.EnumerateArray().Select(t => t.GetString()!).Distinct().ToArray();
            // integer is a subset of number: both would match "1" twice.
            return types.Contains("number") ? [.. types.Where(t => t != "integer")] : types;
        }

        throw new SchemaException($"'type' at {path} must be a type name or a non-empty array of type names");
    }

    private static bool IsKeywordOf(string keyword, string[] types) => keyword switch
    {
        "type" => true,
        "properties" or "required" or "additionalProperties" => types.Contains("object"),
        "items" or "minItems" or "maxItems" => types.Contains("array"),
        "minLength" or "maxLength" => types.Contains("string"),
        _ => false,
    };

    private static bool IsKnownUnsupported(string keyword) => keyword is not ("properties" or "required" or "additionalProperties"
        or "items" or "minItems" or "maxItems" or "minLength" or "maxLength");

    private static void RequireAlone(HashSet<string> keys, string keyword, string path, params string[] alsoAllowed)
    {
        var other = keys.FirstOrDefault(k => k != keyword && !alsoAllowed.Contains(k));
        if (other is not null)
        {
            throw new SchemaException($"'{keyword}' at {path} cannot be combined with '{other}' (only annotations such as description may stand beside it)");
        }
    }

    private GrammarNode Reference(JsonElement reference, string path, int depth)
    {
        var target = reference.ValueKind == JsonValueKind.String ? reference.GetString()! : "";
        string[] parts = target.Split('/');
        if (parts.Length != 3 || parts[0] != "#" || parts[1] is not ("$defs" or "definitions"))
        {
            throw new SchemaException($"'$ref' at {path} must point into the root's $defs or definitions ('#/$defs/name'), got '{Shorten(target)}'");
        }

        var name = parts[2].Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
        if (!_root.TryGetProperty(parts[1], out var definitions) || definitions.ValueKind != JsonValueKind.Object || !definitions.TryGetProperty(name, out var definition))
        {
            throw new SchemaException($"'$ref' at {path} points to '{Shorten(target)}', which the schema does not define");
        }

        if (_resolving.Contains(target))
        {
            throw new SchemaException($"'$ref' at {path} is recursive ('{Shorten(target)}' refers back to itself); recursive schemas are not supported");
        }

        _resolving.Push(target);
        var node = Node(definition, target, depth + 1);
        _resolving.Pop();
        return node;
    }

    private GrammarNode Object(JsonElement schema, string path, int depth)
    {
        var names = new List<string>();
        var values = new List<GrammarNode>();
        if (schema.TryGetProperty("properties", out var properties))
        {
            if (properties.ValueKind != JsonValueKind.Object)
            {
                throw new SchemaException($"'properties' at {path} must be an object");
            }

            foreach (var property in properties.EnumerateObject())
            {
                CheckName(property.Name, path);
                if (names.Contains(property.Name))
                {
                    throw new SchemaException($"'properties' at {path} names '{Shorten(property.Name)}' twice");
                }

                names.Add(property.Name);
                values.Add(Node(property.Value, $"{path}/properties/{property.Name}", depth + 1));
            }
        }

        GrammarNode? additional = AnyValue;
        var additionalGiven = schema.TryGetProperty("additionalProperties", out var additionalSchema);
        if (additionalGiven)
        {
            additional = additionalSchema.ValueKind switch
            {
                JsonValueKind.False => null,
                JsonValueKind.True => AnyValue,
                JsonValueKind.Object => Node(additionalSchema, $"{path}/additionalProperties", depth + 1),
                _ => throw new SchemaException($"'additionalProperties' at {path} must be a boolean or a schema"),
            };
        }

        var required = new List<string>();
        if (schema.TryGetProperty("required", out var requiredList))
        {
            if (requiredList.ValueKind != JsonValueKind.Array || !requiredList.EnumerateArray().All(r => r.ValueKind == JsonValueKind.String))
            {
                throw new SchemaException($"'required' at {path} must be an array of property names");
            }

            required.AddRange(requiredList.EnumerateArray().Select(r => r.GetString()!).Distinct());
        }

        if (_strict)
        {
            if (!additionalGiven || additional is not null)
            {
                throw new SchemaException($"strict schemas must set 'additionalProperties' to false on every object ({path} does not)");
            }

            var missing = names.FirstOrDefault(n => !required.Contains(n));
            if (missing is not null)
            {
                throw new SchemaException($"strict schemas must list every property in 'required' ({path} leaves out '{Shorten(missing)}')");
            }
        }

        foreach (var name in required)
        {
            if (!names.Contains(name))
            {
                // A required key the schema does not describe: it takes whatever other keys may hold.
                CheckName(name, path);
                names.Add(name);
                values.Add(additional ?? throw new SchemaException(
                    $"'required' at {path} names '{Shorten(name)}', which is not in 'properties' while additionalProperties is false: no object can satisfy it"));
            }
        }

        if (names.Count > MaxProperties)
        {
            throw new SchemaException($"the object at {path} has {names.Count} properties; at most {MaxProperties} are supported");
        }

        ulong requiredMask = 0;
        foreach (var name in required)
        {
            requiredMask |= 1UL << names.IndexOf(name);
        }

        return new ObjectNode
        {
            Names = [.. names],
            Values = [.. values],
            Required = requiredMask,
            Additional = additional,
            Keys = ByteTrie.Build([.. names.Select(n => Encoding.UTF8.GetBytes(n))]),
        };
    }

    private static void CheckName(string name, string path)
    {
        foreach (var c in name)
        {
            if (c is '"' or '\\' or < ' ')
            {
                throw new SchemaException($"property name '{Shorten(name)}' at {path} needs escaping in JSON (a quote, backslash or control character); such names are not supported");
            }
        }

        if (!string.Equals(Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(name)), name, StringComparison.Ordinal))
        {
            throw new SchemaException($"property name '{Shorten(name)}' at {path} holds an unpaired surrogate");
        }
    }

    private GrammarNode Array(JsonElement schema, string path, int depth)
    {
        var items = schema.TryGetProperty("items", out var itemSchema)
            ? itemSchema.ValueKind == JsonValueKind.Array
                ? throw new SchemaException($"'items' at {path} must be a single schema (tuple forms are not supported)")
                : Node(itemSchema, $"{path}/items", depth + 1)
            : AnyValue;
        var min = Count(schema, "minItems", path) ?? 0;
        var max = Count(schema, "maxItems", path) ?? int.MaxValue;
        if (min > max)
        {
            throw new SchemaException($"'minItems' at {path} is above 'maxItems': no array can satisfy it");
        }

        return new ArrayNode { Items = items, Min = min, Max = max };
    }

    private static GrammarNode String(JsonElement schema, string path)
    {
        var min = Count(schema, "minLength", path) ?? 0;
        var max = Count(schema, "maxLength", path) ?? int.MaxValue;
        if (min > max)
        {
            throw new SchemaException($"'minLength' at {path} is above 'maxLength': no string can satisfy it");
        }

        return min == 0 && max == int.MaxValue ? StringNode.Any : new StringNode { Min = min, Max = max };
    }

    private static int? Count(JsonElement schema, string keyword, string path)
    {
        if (!schema.TryGetProperty(keyword, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var n) || n < 0)
        {
            throw new SchemaException($"'{keyword}' at {path} must be a non-negative integer");
        }

        return (int)Math.Min(n, int.MaxValue);
    }

    private static GrammarNode Literals(JsonElement schema, HashSet<string> keys, string path)
    {
        var other = keys.FirstOrDefault(k => k is not ("enum" or "const" or "type"));
        if (other is not null)
        {
            throw new SchemaException($"'enum'/'const' at {path} cannot be combined with '{other}'");
        }

        var values = new List<JsonElement>();
        if (schema.TryGetProperty("const", out var constant))
        {
            values.Add(constant);
        }

        if (schema.TryGetProperty("enum", out var options))
        {
            if (options.ValueKind != JsonValueKind.Array || options.GetArrayLength() == 0)
            {
                throw new SchemaException($"'enum' at {path} must be a non-empty array");
            }

            if (options.GetArrayLength() > MaxEnumValues)
            {
                throw new SchemaException($"'enum' at {path} has {options.GetArrayLength()} values; at most {MaxEnumValues} are supported");
            }

            values.AddRange(options.EnumerateArray());
        }

        var types = schema.TryGetProperty("type", out _) ? Types(schema, path) : null;
        var literals = new List<byte[]>();
        foreach (var value in values)
        {
            if (types is not null && !types.Contains(TypeOf(value)) && !(TypeOf(value) == "integer" && types.Contains("number")))
            {
                continue;
            }

            var bytes = Compact(value);
            if (bytes.Length > MaxLiteralBytes)
            {
                throw new SchemaException($"a value of 'enum'/'const' at {path} is longer than {MaxLiteralBytes} bytes");
            }

            literals.Add(bytes);
        }

        if (literals.Count == 0)
        {
            throw new SchemaException($"no value of 'enum'/'const' at {path} has the schema's 'type': no value can satisfy it");
        }

        return Literal(literals);
    }

    private static string TypeOf(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => value.TryGetInt64(out _) ? "integer" : "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };

    private static byte[] Compact(JsonElement value)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, s_compact))
        {
            value.WriteTo(writer);
        }

        return stream.ToArray();
    }

    private static LiteralNode Literal(List<byte[]> literals) => new(ByteTrie.Build(literals));

    private static string Shorten(string s) => s.Length <= 64 ? s : s[..64] + "...";

    private static GrammarNode BuildAnyValue()
    {
        var anyObject = new ObjectNode();
        var anyArray = new ArrayNode();
        var any = new AnyOfNode([anyObject, anyArray, StringNode.Any, NumberNode.Number, Literal(["true"u8.ToArray(), "false"u8.ToArray(), "null"u8.ToArray()])]);
        anyObject.Additional = any;
        anyArray.Items = any;
        return any;
    }
}
