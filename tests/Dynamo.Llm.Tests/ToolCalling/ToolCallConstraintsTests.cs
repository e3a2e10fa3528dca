using System.Text;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;
using Dynamo.Llm.ToolCalling;

namespace Dynamo.Llm.Tests.ToolCalling;

/// <summary>
/// What constrained decoding must force for tool_choice required or a named function, per format; and that output
/// obeying it is read back as a call by the format's own parser.
/// </summary>
public sealed class ToolCallConstraintsTests
{
    private const string Tools =
        """[{"type":"function","function":{"name":"a","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}},{"type":"function","function":{"name":"b"}}]""";

    private static ParsedRequest Request(string toolChoice, bool parallel = true) => OpenAiRequestParser.Parse(
        RequestKind.Chat,
        Encoding.UTF8.GetBytes("""{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":""" + toolChoice +
            ""","parallel_tool_calls":""" + (parallel ? "true" : "false") + ""","tools":""" + Tools + "}"),
        RequestLimits.Default);

    [Theory]
    [InlineData("\"none\"")]
    [InlineData("\"auto\"")]
    public void NoForcedCall_NoConstraint(string choice)
    {
        Assert.Null(ToolCallConstraints.For(Request(choice), ToolCallFormat.Hermes));
    }

    [Fact]
    public void Hermes_Required_IsTagsAroundAnyOfTheTools()
    {
        var constraint = ToolCallConstraints.For(Request("\"required\""), ToolCallFormat.Hermes)!;

        Assert.Equal(("<tool_call>\n", "\n</tool_call>"), (constraint.Prefix, constraint.Suffix));
        var options = constraint.Schema.GetProperty("anyOf").EnumerateArray().ToList();
        Assert.Equal(["a", "b"], options.Select(o => o.GetProperty("properties").GetProperty("name").GetProperty("const").GetString()));
        Assert.Equal("string", options[0].GetProperty("properties").GetProperty("arguments").GetProperty("properties").GetProperty("q").GetProperty("type").GetString());
        Assert.Equal("object", options[1].GetProperty("properties").GetProperty("arguments").GetProperty("type").GetString());
        Assert.Equal(["name", "arguments"], options[0].GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.False(options[0].GetProperty("additionalProperties").GetBoolean());
    }

    [Fact]
    public void Llama3Json_NamedFunction_IsThatToolWithParameters_NothingAround()
    {
        var constraint = ToolCallConstraints.For(Request("""{"type":"function","function":{"name":"b"}}"""), ToolCallFormat.Llama3Json)!;

        Assert.Equal(("", ""), (constraint.Prefix, constraint.Suffix));
        Assert.Equal("b", constraint.Schema.GetProperty("properties").GetProperty("name").GetProperty("const").GetString());
        Assert.True(constraint.Schema.GetProperty("properties").TryGetProperty("parameters", out _));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Mistral_IsAListOfCalls_OneWhenNotParallel(bool parallel, bool capped)
    {
        var constraint = ToolCallConstraints.For(Request("\"required\"", parallel), ToolCallFormat.Mistral)!;

        Assert.Equal("[TOOL_CALLS]", constraint.Prefix);
        Assert.Equal("array", constraint.Schema.GetProperty("type").GetString());
        Assert.Equal(1, constraint.Schema.GetProperty("minItems").GetInt32());
        Assert.Equal(capped, constraint.Schema.TryGetProperty("maxItems", out _));
    }

    [Theory]
    [InlineData(ToolCallFormat.Hermes, "{\"name\": \"a\", \"arguments\": {\"q\": \"x\"}}")]
    [InlineData(ToolCallFormat.Llama3Json, "{\"name\": \"a\", \"parameters\": {\"q\": \"x\"}}")]
    [InlineData(ToolCallFormat.Mistral, "[{\"name\": \"a\", \"arguments\": {\"q\": \"x\"}}]")]
    public void OutputObeyingTheConstraint_IsReadAsACall(ToolCallFormat format, string json)
    {
        var constraint = ToolCallConstraints.For(Request("\"required\""), format)!;

        var result = ToolCallParser.Parse(format, constraint.Prefix + json + constraint.Suffix);

        var call = Assert.Single(result.Calls);
        Assert.Equal(("a", "x"), (call.Name, JsonDocument.Parse(call.Arguments).RootElement.GetProperty("q").GetString()));
    }
}
