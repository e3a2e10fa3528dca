using System.Text.Json.Nodes;
using Dynamo.DevCluster.Schema;

namespace Dynamo.DevCluster.Tests.Unit;

public sealed class StructuralSchemaTests
{
    private static StructuralSchema Schema(string json)
    {
        var problems = new List<StatusCause>();
        var schema = StructuralSchema.Parse(JsonNode.Parse(json)!.AsObject(), "schema", problems);
        Assert.Empty(problems);
        return schema;
    }

    private static (JsonObject Obj, List<StatusCause> Causes, List<string> Unknown) Apply(string schema, string obj)
    {
        var o = JsonNode.Parse(obj)!.AsObject();
        var unknown = new List<string>();
        var causes = Schema(schema).Apply(o, unknown);
        return (o, causes, unknown);
    }

    [Fact]
    public void Nullable_AllowsNullOnlyWhereDeclared()
    {
        const string schema = """{"type":"object","properties":{"spec":{"type":"object","properties":{"a":{"type":"string","nullable":true},"b":{"type":"string"}}}}}""";

        Assert.Empty(Apply(schema, """{"spec":{"a":null}}""").Causes);
        Assert.Equal("spec.b", Assert.Single(Apply(schema, """{"spec":{"b":null}}""").Causes).Field);
    }

    [Fact]
    public void Arrays_ItemsMinAndMaxItemsAndUniqueItems()
    {
        const string schema = """{"type":"object","properties":{"l":{"type":"array","minItems":1,"maxItems":2,"uniqueItems":true,"items":{"type":"integer","maximum":9}}}}""";

        Assert.Equal("l", Assert.Single(Apply(schema, """{"l":[]}""").Causes).Field);
        Assert.Equal("l", Assert.Single(Apply(schema, """{"l":[1,2,3]}""").Causes).Field);
        Assert.Equal("l[1]", Assert.Single(Apply(schema, """{"l":[1,1]}""").Causes).Field);
        Assert.Equal("l[0]", Assert.Single(Apply(schema, """{"l":[10]}""").Causes).Field);
    }

    [Fact]
    public void Defaults_ApplyInsideNewObjectsAndArrayItems()
    {
        const string schema = """
            {"type":"object","properties":{"spec":{"type":"object","default":{},"properties":{
              "n":{"type":"integer","default":3},
              "items":{"type":"array","items":{"type":"object","properties":{"k":{"type":"string","default":"v"}}}}}}}}
            """;

        var (obj, causes, _) = Apply(schema, """{"spec":{"items":[{},{"k":"x"}]}}""");
        var (empty, _, _) = Apply(schema, "{}");

        Assert.Empty(causes);
        Assert.Equal("""{"items":[{"k":"v"},{"k":"x"}],"n":3}""", obj["spec"]!.ToJsonString());
        Assert.Equal("""{"n":3}""", empty["spec"]!.ToJsonString());
    }

    [Fact]
    public void Pruning_KeepsPreservedSubtreesAndMapValues_ReportsThePathsDropped()
    {
        const string schema = """
            {"type":"object","properties":{"spec":{"type":"object","properties":{
              "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
              "map":{"type":"object","additionalProperties":{"type":"string"}},
              "any":{"type":"object","additionalProperties":true}}}}}
            """;

        var (obj, causes, unknown) = Apply(schema, """{"spec":{"free":{"x":{"y":1}},"map":{"a":"b"},"any":{"q":[1]},"gone":1},"top":2}""");

        Assert.Empty(causes);
        Assert.Equal(["spec.gone", "top"], unknown.Order().ToArray());
        Assert.Equal("""{"free":{"x":{"y":1}},"map":{"a":"b"},"any":{"q":[1]}}""", obj["spec"]!.ToJsonString());
    }

    [Fact]
    public void Combinators_AnyOfOneOfNot()
    {
        const string schema = """
            {"type":"object","properties":{
              "a":{"anyOf":[{"type":"integer"},{"type":"string","pattern":"^[0-9]+%$"}]},
              "b":{"type":"integer","not":{"enum":[13]}}}}
            """;

        Assert.Empty(Apply(schema, """{"a":"25%","b":12}""").Causes);
        Assert.Equal("a", Assert.Single(Apply(schema, """{"a":"lots"}""").Causes).Field);
        Assert.Equal("b", Assert.Single(Apply(schema, """{"b":13}""").Causes).Field);
    }

    [Fact]
    public void MaximumExclusiveAndMaxLength()
    {
        const string schema = """{"type":"object","properties":{"n":{"type":"number","maximum":1,"exclusiveMaximum":true},"s":{"type":"string","maxLength":2}}}""";

        var causes = Apply(schema, """{"n":1,"s":"abc"}""").Causes;

        Assert.Equal(["n", "s"], causes.Select(c => c.Field).ToArray());
        Assert.Contains("less than 1", causes[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RefusesCelRulesAndUnknownKeywords()
    {
        var problems = new List<StatusCause>();
        StructuralSchema.Parse(JsonNode.Parse("""{"type":"object","$ref":"#/x","properties":{"a":{"type":"string","x-kubernetes-validations":[]}}}""")!.AsObject(), "s", problems);

        Assert.Equal(["s.$ref", "s.properties[a].x-kubernetes-validations"], problems.Select(p => p.Field).ToArray());
    }
}
