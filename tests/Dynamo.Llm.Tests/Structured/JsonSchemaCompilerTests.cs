using System.Text.Json;
using Dynamo.Llm.Structured;

namespace Dynamo.Llm.Tests.Structured;

public sealed class JsonSchemaCompilerTests
{
    [Theory]
    [InlineData("""{"type":"string","pattern":"^a"}""", "'pattern'")]
    [InlineData("""{"type":"string","format":"date"}""", "'format'")]
    [InlineData("""{"type":"number","minimum":0}""", "'minimum'")]
    [InlineData("""{"type":"integer","multipleOf":2}""", "'multipleOf'")]
    [InlineData("""{"oneOf":[{"type":"string"}]}""", "'oneOf'")]
    [InlineData("""{"allOf":[{"type":"string"}]}""", "'allOf'")]
    [InlineData("""{"type":"object","patternProperties":{}}""", "'patternProperties'")]
    [InlineData("""{"type":"array","prefixItems":[]}""", "'prefixItems'")]
    [InlineData("""{"type":"array","items":[{"type":"string"}]}""", "tuple")]
    [InlineData("""{"type":"string","minItems":1}""", "'minItems'")]
    [InlineData("""{"$ref":"#/$defs/a","$defs":{"a":{"type":"object","properties":{"x":{"$ref":"#/$defs/a"}}}}}""", "recursive")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "does not define")]
    [InlineData("""{"$ref":"http://x/y"}""", "$defs")]
    [InlineData("""{"type":"array","minItems":3,"maxItems":1}""", "no array")]
    [InlineData("""{"enum":[]}""", "non-empty")]
    [InlineData("""{"type":"string","enum":[1,2]}""", "no value")]
    [InlineData("""{"type":"object","properties":{"a\"b":{}}}""", "escaping")]
    [InlineData("""{"type":"object","properties":{},"required":["x"],"additionalProperties":false}""", "no object")]
    [InlineData("""{"type":"date"}""", "unknown type")]
    public void Unsupported_OrUnsatisfiable_IsRefusedNamingTheKeyword(string schema, string expected)
    {
        var ex = Assert.Throws<SchemaException>(() => JsonGrammar.FromSchema(JsonDocument.Parse(schema).RootElement, strict: false));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}""", "additionalProperties")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":true}""", "additionalProperties")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["a"],"additionalProperties":false}""", "'b'")]
    [InlineData("""{"type":"object","properties":{"o":{"type":"object","properties":{}}},"required":["o"],"additionalProperties":false}""", "#/properties/o")]
    public void Strict_RequiresEveryPropertyAndNoOthers(string schema, string expected)
    {
        var ex = Assert.Throws<SchemaException>(() => JsonGrammar.FromSchema(JsonDocument.Parse(schema).RootElement, strict: true));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        JsonGrammar.FromSchema(JsonDocument.Parse(schema).RootElement, strict: false);
    }

    [Fact]
    public void Supported_Keywords_AndAnnotations_Compile_AndAreCached()
    {
        const string schema = """
            {"$schema":"https://json-schema.org/draft/2020-12/schema","title":"t","description":"d",
             "type":"object","additionalProperties":false,"required":["a","b","c","d","e","f"],
             "properties":{
               "a":{"type":["string","null"],"minLength":1,"maxLength":4,"description":"x"},
               "b":{"type":"array","items":{"$ref":"#/$defs/item"},"minItems":1,"maxItems":3},
               "c":{"anyOf":[{"type":"integer"},{"const":"none"}]},
               "d":{"enum":["x",1,null,true,{"k":[1]}]},
               "e":{"$ref":"#/definitions/flag"},
               "f":{"type":"number","default":1,"examples":[2]}},
             "$defs":{"item":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"],"additionalProperties":false}},
             "definitions":{"flag":{"type":"boolean"}}}
            """;
        var first = JsonGrammar.FromSchema(JsonDocument.Parse(schema).RootElement, strict: true, "s");
        var second = JsonGrammar.FromSchema(JsonDocument.Parse(schema).RootElement, strict: true, "s");
        Assert.Same(first, second);
        Assert.Equal("json_schema 's'", first.Description);
    }

    [Fact]
    public void TooLarge_IsRefused()
    {
        var properties = string.Join(",", Enumerable.Range(0, 65).Select(i => $"\"p{i}\":{{\"type\":\"integer\"}}"));
        var ex = Assert.Throws<SchemaException>(() => JsonGrammar.FromSchema(JsonDocument.Parse($"{{\"type\":\"object\",\"properties\":{{{properties}}}}}").RootElement, strict: false));
        Assert.Contains("at most 64", ex.Message, StringComparison.Ordinal);

        var deep = string.Concat(Enumerable.Repeat("{\"type\":\"array\",\"items\":", 30)) + "{}" + new string('}', 30);
        Assert.Throws<SchemaException>(() => JsonGrammar.FromSchema(JsonDocument.Parse(deep).RootElement, strict: false));
    }
}
