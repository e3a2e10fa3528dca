using System.Text;
using System.Text.Json;
using Dynamo.Llm.ToolCalling;

namespace Dynamo.Llm.Tests.ToolCalling;

/// <summary>
/// The output parsers of each tool-call format, whole and streamed: a stream is fed in pieces of every size (one
/// character at a time included) and must add up to what the whole parse gives.
/// </summary>
public sealed class ToolCallParserTests
{
    [Fact]
    public void Hermes_OneCall_IsParsed_ContentNull()
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");

        Assert.Null(result.Content);
        var call = Assert.Single(result.Calls);
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("""{"city": "Paris"}""", call.Arguments);
        Assert.StartsWith("call_", call.Id, StringComparison.Ordinal);
    }

    [Fact]
    public void Hermes_ContentThenTwoCalls_KeepsContentAndBothCalls()
    {
        var text = "Let me check both.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>";

        var result = ToolCallParser.Parse(ToolCallFormat.Hermes, text);

        Assert.Equal("Let me check both.", result.Content);
        Assert.Equal(["a", "b"], result.Calls.Select(c => c.Name));
        Assert.Equal(["""{"x": 1}""", "{}"], result.Calls.Select(c => c.Arguments));
        Assert.NotEqual(result.Calls[0].Id, result.Calls[1].Id);
    }

    [Fact]
    public void Hermes_ParallelToolCallsFalse_KeepsTheFirstCallOnly()
    {
        var text = "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>";

        var result = ToolCallParser.Parse(ToolCallFormat.Hermes, text, parallelToolCalls: false);

        Assert.Equal("a", Assert.Single(result.Calls).Name);
    }

    [Fact]
    public void Hermes_ArgumentsAsAString_AreItsValue()
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Hermes, "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"q\\\": \\\"x\\\"}\"}</tool_call>");

        Assert.Equal("""{"q": "x"}""", Assert.Single(result.Calls).Arguments);
    }

    [Fact]
    public void Hermes_ArgumentsBeforeName_AreKept()
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Hermes, "<tool_call>{\"arguments\": {\"a\": [1, {\"b\": \"}\"}]}, \"name\": \"f\"}</tool_call>");

        var call = Assert.Single(result.Calls);
        Assert.Equal("f", call.Name);
        Assert.Equal("""{"a": [1, {"b": "}"}]}""", call.Arguments);
    }

    [Fact]
    public void Hermes_NoClosingTag_CallStillStands()
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}");

        Assert.Equal("f", Assert.Single(result.Calls).Name);
    }

    [Theory]
    [InlineData("<tool_call>\nnot json\n</tool_call>")]
    [InlineData("<tool_call>{\"arguments\": {}}</tool_call>")]
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": ")]
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": {'a': 1}}</tool_call>")]
    [InlineData("<tool_call>{\"name\": 5}</tool_call>")]
    public void Hermes_Malformed_FallsBackToPlainContent(string text)
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Hermes, text);

        Assert.Equal(text, result.Content);
        Assert.Empty(result.Calls);
    }

    [Theory]
    [InlineData("Just an answer.")]
    [InlineData("I would use <tool but no call")]
    [InlineData("")]
    public void Hermes_NoCall_ContentIsTheTextExactly(string text)
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Hermes, text);

        Assert.Equal(text, result.Content);
        Assert.Empty(result.Calls);
    }

    [Theory]
    [InlineData("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}")]
    [InlineData("<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}")]
    [InlineData("  \n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}")]
    public void Llama3Json_Call_IsParsed(string text)
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Llama3Json, text);

        Assert.Null(result.Content);
        var call = Assert.Single(result.Calls);
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("""{"city": "Paris"}""", call.Arguments);
    }

    [Fact]
    public void Llama3Json_CallsSeparatedBySemicolons_AreAllParsed()
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Llama3Json, "{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"n\": 2}}");

        Assert.Equal(["a", "b"], result.Calls.Select(c => c.Name));
    }

    [Theory]
    [InlineData("The weather in Paris is sunny.")]
    [InlineData("{\"answer\": 42}")]
    [InlineData("Here: {\"name\": \"f\", \"parameters\": {}}")]
    public void Llama3Json_NotACallAtTheStart_IsContent(string text)
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Llama3Json, text);

        Assert.Equal(text, result.Content);
        Assert.Empty(result.Calls);
    }

    [Theory]
    [InlineData("[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"x\": 1}}, {\"name\": \"b\", \"arguments\": {}}]")]
    [InlineData("[{\"name\": \"a\", \"arguments\": {\"x\": 1}}, {\"name\": \"b\", \"arguments\": {}}]")]
    public void Mistral_List_IsParsed_WithNineCharacterIds(string text)
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Mistral, text);

        Assert.Null(result.Content);
        Assert.Equal(["a", "b"], result.Calls.Select(c => c.Name));
        Assert.Equal("""{"x": 1}""", result.Calls[0].Arguments);
        Assert.All(result.Calls, c => Assert.Matches("^[A-Za-z0-9]{9}$", c.Id));
    }

    [Fact]
    public void Mistral_ContentBeforeMarker_IsContent()
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Mistral, "Checking.[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}]");

        Assert.Equal("Checking.", result.Content);
        Assert.Equal("a", Assert.Single(result.Calls).Name);
    }

    [Theory]
    [InlineData("[TOOL_CALLS] nonsense")]
    [InlineData("[1, 2, 3]")]
    public void Mistral_Malformed_FallsBackToPlainContent(string text)
    {
        var result = ToolCallParser.Parse(ToolCallFormat.Mistral, text);

        Assert.Equal(text, result.Content);
        Assert.Empty(result.Calls);
    }

    public static TheoryData<ToolCallFormat, string> StreamCases() => new()
    {
        { ToolCallFormat.Hermes, "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": [1, 2]}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"q\": \"a \\\"quoted\\\" }\"}}\n</tool_call>" },
        { ToolCallFormat.Hermes, "No tools needed: 1 < 2 and <tool is not a tag." },
        { ToolCallFormat.Llama3Json, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}; {\"name\": \"b\", \"parameters\": {}}" },
        { ToolCallFormat.Llama3Json, "Sunny, 21 degrees." },
        { ToolCallFormat.Mistral, "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"x\": [1, 2]}}, {\"name\": \"b\", \"arguments\": {}}]" },
    };

    [Theory]
    [MemberData(nameof(StreamCases))]
    public void Stream_InPiecesOfAnySize_AddsUpToTheWholeParse(ToolCallFormat format, string text)
    {
        var whole = ToolCallParser.Parse(format, text);
        foreach (var size in new[] { 1, 2, 3, 5, 7, 13, text.Length })
        {
            var parser = new ToolCallStreamParser(format);
            var deltas = new List<ToolCallDelta>();
            for (var i = 0; i < text.Length; i += size)
            {
                parser.Append(text.Substring(i, Math.Min(size, text.Length - i)), deltas);
            }

            parser.Finish(deltas);
            var (content, calls) = Assemble(deltas);
            Assert.Equal(whole.Calls.Select(c => (c.Name, c.Arguments)), calls.Select(c => (c.Name, c.Arguments)));
            Assert.Equal(whole.Content ?? "", whole.Calls.Count > 0 ? content.Trim() : content);
            Assert.False(parser.Malformed);
        }
    }

    [Fact]
    public void Stream_Hermes_NameGoesOutOnceComplete_ArgumentsAsTheyCome()
    {
        var parser = new ToolCallStreamParser(ToolCallFormat.Hermes);
        var deltas = new List<ToolCallDelta>();

        parser.Append("Hi <tool", deltas);
        Assert.Equal("Hi ", Assert.Single(deltas).Content);
        deltas.Clear();

        parser.Append("_call>\n{\"name\": \"get_wea", deltas);
        Assert.Empty(deltas);

        parser.Append("ther\", \"arguments\": {\"ci", deltas);
        var start = Assert.Single(deltas);
        Assert.Equal((0, "get_weather"), (start.Index, start.Name));
        Assert.NotNull(start.Id);
        Assert.Equal("{\"ci", start.Arguments);
        deltas.Clear();

        parser.Append("ty\": \"Paris\"}}\n</tool_call>", deltas);
        var rest = Assert.Single(deltas);
        Assert.Equal((0, (string?)null, "ty\": \"Paris\"}"), (rest.Index, rest.Id, rest.Arguments));
        deltas.Clear();

        parser.Finish(deltas);
        Assert.Empty(deltas);
        Assert.Equal(1, parser.CallCount);
    }

    [Fact]
    public void Stream_HeldBackMarkerPrefix_IsContentAtTheEnd()
    {
        var parser = new ToolCallStreamParser(ToolCallFormat.Hermes);
        var deltas = new List<ToolCallDelta>();

        parser.Append("a <tool_ca", deltas);
        parser.Finish(deltas);

        Assert.Equal("a <tool_ca", string.Concat(deltas.Select(d => d.Content)));
        Assert.Equal(0, parser.CallCount);
    }

    [Fact]
    public void Stream_MarkerFollowedByGarbage_IsPassedOnAsContent()
    {
        var parser = new ToolCallStreamParser(ToolCallFormat.Hermes);
        var deltas = new List<ToolCallDelta>();

        parser.Append("<tool_call> oops", deltas);
        parser.Finish(deltas);

        Assert.Equal("<tool_call> oops", string.Concat(deltas.Select(d => d.Content)));
        Assert.True(parser.Malformed);
        Assert.Equal(0, parser.CallCount);
    }

    private static (string Content, List<(string Name, string Arguments)> Calls) Assemble(List<ToolCallDelta> deltas)
    {
        var content = new StringBuilder();
        var calls = new List<(string Name, StringBuilder Arguments)>();
        foreach (var d in deltas)
        {
            if (d.IsContent)
            {
                content.Append(d.Content);
                continue;
            }

            if (d.Name is not null)
            {
                Assert.Equal(calls.Count, d.Index);
                calls.Add((d.Name, new StringBuilder()));
            }

            calls[d.Index].Arguments.Append(d.Arguments);
        }

        return (content.ToString(), calls.Select(c => (c.Name, c.Arguments.ToString())).ToList());
    }
}
