using System.Text.Json.Nodes;

namespace Dynamo.Llm.Tests.Structured;

/// <summary>Random schemas of the supported subset; bounded (strings have maxLength, arrays maxItems) so that a random model finishes them.</summary>
internal sealed class RandomSchemas(Random random, bool strict, bool open = false)
{
    private int _defs;
    private JsonObject? _definitions;

    public JsonObject Next()
    {
        _defs = 0;
        _definitions = null;
        var schema = Object(0);
        if (_definitions is not null)
        {
            schema["$defs"] = _definitions;
        }

        return schema;
    }

    private JsonNode Any(int depth)
    {
        var choice = random.Next(depth >= 3 ? 7 : 11);
        return choice switch
        {
            0 => new JsonObject { ["type"] = "string", ["maxLength"] = random.Next(1, 12), ["minLength"] = random.Next(0, 2) },
            1 => new JsonObject { ["type"] = "number" },
            2 => new JsonObject { ["type"] = "integer", ["description"] = "an annotation" },
            3 => new JsonObject { ["type"] = "boolean" },
            4 => new JsonObject { ["type"] = "null" },
            5 => new JsonObject { ["enum"] = new JsonArray([.. Enumerable.Range(0, random.Next(1, 5)).Select(_ => RandomLiteral())]) },
            6 => new JsonObject { ["type"] = new JsonArray("string", "null"), ["maxLength"] = random.Next(0, 6) },
            7 => Object(depth + 1),
            8 => new JsonObject { ["type"] = "array", ["items"] = Any(depth + 1), ["minItems"] = 0, ["maxItems"] = random.Next(0, 4) },
            9 => new JsonObject { ["anyOf"] = new JsonArray([.. Enumerable.Range(0, random.Next(2, 4)).Select(_ => Any(depth + 1))]) },
            _ => Reference(depth),
        };
    }

    private JsonNode RandomLiteral() => random.Next(6) switch
    {
        0 => JsonValue.Create("v" + random.Next(100)),
        1 => JsonValue.Create(random.Next(-50, 50)),
        2 => JsonValue.Create(random.Next(1000) / 8.0),
        3 => JsonValue.Create(random.Next(2) == 0),
        4 => JsonValue.Create("naïve \"q\" " + random.Next(5)),
        _ => new JsonObject { ["k"] = random.Next(3) },
    };

    private JsonNode Reference(int depth)
    {
        _definitions ??= [];
        var name = "d" + _defs++;
        _definitions[name] = Object(depth + 1);
        return new JsonObject { ["$ref"] = "#/$defs/" + name };
    }

    private JsonObject Object(int depth)
    {
        var properties = new JsonObject();
        var required = new JsonArray();
        var count = random.Next(depth == 0 ? 1 : 0, 5);
        for (var i = 0; i < count; i++)
        {
            var name = random.Next(4) == 0 ? $"é{i}" : $"p{i}_{random.Next(10)}";
            properties[name] = Any(depth);
            if (strict || random.Next(2) == 0)
            {
                required.Add(name);
            }
        }

        var schema = new JsonObject { ["type"] = "object", ["properties"] = properties, ["required"] = required };
        if (strict || !open || random.Next(2) == 0)
        {
            schema["additionalProperties"] = false;
        }
        else
        {
            // Open objects take keys of any length: only with a small vocabulary, where a random model closes them soon.
            // Nothing required: a random model typing free keys would almost never spell a required name.
            schema["additionalProperties"] = new JsonObject { ["type"] = "integer" };
            schema["required"] = new JsonArray();
        }

        return schema;
    }
}
