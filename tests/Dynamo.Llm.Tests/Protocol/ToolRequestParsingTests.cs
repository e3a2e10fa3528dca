using System.Text;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;

namespace Dynamo.Llm.Tests.Protocol;

/// <summary>The tool-calling fields of chat requests: tools, tool_choice, parallel_tool_calls and an agent's history.</summary>
public sealed class ToolRequestParsingTests
{
    private const string Weather = """{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}""";
    private const string User = """{"role":"user","content":"Weather in Paris?"}""";

    private static readonly RequestLimits Limits = new() { VocabSize = 50257 };

    private static ParsedRequest Chat(string json) => OpenAiRequestParser.Parse(RequestKind.Chat, Encoding.UTF8.GetBytes(json), Limits);

    private static OpenAiException Refused(string json, RequestKind kind = RequestKind.Chat) =>
        Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(kind, Encoding.UTF8.GetBytes(json), Limits));

    [Fact]
    public void Tools_WithoutToolChoice_DefaultToAuto()
    {
        var r = Chat($$"""{"model":"m","messages":[{{User}}],"tools":[{{Weather}}]}""");

        var tool = Assert.Single(r.Tools);
        Assert.Equal("get_weather", tool.Name);
        Assert.Equal("Weather of a city", tool.Description);
        Assert.Equal("object", tool.Parameters!.Value.GetProperty("type").GetString());
        Assert.Equal("function", tool.Tool.GetProperty("type").GetString());
        Assert.Equal(ToolChoice.Auto, r.ToolChoice);
        Assert.True(r.ParallelToolCalls);
        Assert.True(r.UsesTools);
    }

    [Fact]
    public void NoTools_ToolChoiceIsNone_AndToolsAreNotUsed()
    {
        var r = Chat($$"""{"model":"m","messages":[{{User}}]}""");

        Assert.Empty(r.Tools);
        Assert.Equal(ToolChoice.None, r.ToolChoice);
        Assert.False(r.UsesTools);
    }

    [Theory]
    [InlineData("\"none\"", ToolChoiceMode.None, null)]
    [InlineData("\"auto\"", ToolChoiceMode.Auto, null)]
    [InlineData("\"required\"", ToolChoiceMode.Required, null)]
    [InlineData("""{"type":"function","function":{"name":"get_weather"}}""", ToolChoiceMode.Function, "get_weather")]
    public void ToolChoice_EveryForm_IsRead(string value, ToolChoiceMode mode, string? name)
    {
        var r = Chat($$"""{"model":"m","messages":[{{User}}],"tool_choice":{{value}},"tools":[{{Weather}}],"parallel_tool_calls":false}""");

        Assert.Equal(new ToolChoice(mode, name), r.ToolChoice);
        Assert.False(r.ParallelToolCalls);
        Assert.Equal(mode != ToolChoiceMode.None, r.UsesTools);
    }

    [Fact]
    public void AgentSecondTurn_AssistantToolCallsWithNullContent_ThenToolResult_IsAccepted()
    {
        var r = Chat($$$"""
            {"model":"m","tools":[{{{Weather}}}],"messages":[{{{User}}},
              {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"sunny, 21 C"}]}
            """);

        Assert.Equal(3, r.Messages.Count);
        var assistant = r.Messages[1];
        Assert.Equal(("assistant", ""), (assistant.Role, assistant.Content));
        Assert.Equal(new ToolCall("call_1", "get_weather", """{"city":"Paris"}"""), Assert.Single(assistant.ToolCalls));
        var tool = r.Messages[2];
        Assert.Equal(("tool", "sunny, 21 C", "call_1"), (tool.Role, tool.Content, tool.ToolCallId));
    }

    [Fact]
    public void ToolCallArgumentsAsAnObject_AreKeptAsTheirJsonText()
    {
        var r = Chat("""{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{"a":1}}}]}]}""");

        Assert.Equal("""{"a":1}""", Assert.Single(r.Messages[0].ToolCalls).Arguments);
    }

    [Theory]
    [InlineData("\"tools\":{}", "tools")]
    [InlineData("\"tools\":[5]", "tools[0]")]
    [InlineData("\"tools\":[{\"function\":{\"name\":\"f\"}}]", "tools[0].type")]
    [InlineData("\"tools\":[{\"type\":\"retrieval\",\"function\":{\"name\":\"f\"}}]", "tools[0].type")]
    [InlineData("\"tools\":[{\"type\":\"function\"}]", "tools[0].function")]
    [InlineData("\"tools\":[{\"type\":\"function\",\"function\":{}}]", "tools[0].function.name")]
    [InlineData("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"has space\"}}]", "tools[0].function.name")]
    [InlineData("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":\"x\"}}]", "tools[0].function.parameters")]
    [InlineData("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}},{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", "tools[1].function.name")]
    [InlineData("\"tool_choice\":\"sometimes\"", "tool_choice")]
    [InlineData("\"tool_choice\":5", "tool_choice")]
    [InlineData("\"tool_choice\":{\"type\":\"function\"}", "tool_choice.function")]
    [InlineData("\"tool_choice\":{\"type\":\"allowed_tools\"}", "tool_choice.type")]
    [InlineData("\"tool_choice\":\"required\"", "tool_choice")]
    [InlineData("\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}},\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", "tool_choice.function.name")]
    [InlineData("\"parallel_tool_calls\":\"yes\"", "parallel_tool_calls")]
    public void BadToolFields_Are400_NamingTheField(string fields, string param)
    {
        var error = Refused($$"""{"model":"m","messages":[{{User}}],{{fields}}}""");

        Assert.Equal((400, "invalid_request_error", param), (error.StatusCode, error.Type, error.Param));
    }

    [Theory]
    [InlineData("""{"role":"tool","content":"x"}""", "messages[0].tool_call_id")]
    [InlineData("""{"role":"tool","tool_call_id":"c"}""", "messages[0].content")]
    [InlineData("""{"role":"user","content":"x","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}""", "messages[0].tool_calls")]
    [InlineData("""{"role":"assistant","tool_calls":{}}""", "messages[0].tool_calls")]
    [InlineData("""{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}""", "messages[0].tool_calls[0].id")]
    [InlineData("""{"role":"assistant","tool_calls":[{"id":"c","type":"code","function":{"name":"f","arguments":"{}"}}]}""", "messages[0].tool_calls[0].type")]
    [InlineData("""{"role":"assistant","tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}""", "messages[0].tool_calls[0].function.name")]
    [InlineData("""{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f"}}]}""", "messages[0].tool_calls[0].function.arguments")]
    [InlineData("""{"role":"function","name":"f","content":"x"}""", "messages[0].role")]
    public void BadToolMessages_Are400_NamingTheField(string message, string param)
    {
        var error = Refused($$"""{"model":"m","messages":[{{message}}]}""");

        Assert.Equal((400, param), (error.StatusCode, error.Param));
    }

    [Theory]
    [InlineData("tools", "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]")]
    [InlineData("tool_choice", "\"required\"")]
    [InlineData("functions", "[{\"name\":\"f\"}]")]
    [InlineData("function_call", "\"f\"")]
    public void CompletionsTools_AndLegacyFunctions_AreUnsupported(string field, string value)
    {
        var error = Refused($$"""{"model":"m","prompt":"hi","{{field}}":{{value}}}""", RequestKind.Completion);

        Assert.Equal((400, field, "unsupported_parameter"), (error.StatusCode, error.Param, error.Code));
    }

    [Fact]
    public void LegacyFunctions_OnChat_AreStillUnsupported()
    {
        var error = Refused($$"""{"model":"m","messages":[{{User}}],"functions":[{"name":"f"}]}""");

        Assert.Equal(("functions", "unsupported_parameter"), (error.Param, error.Code));
    }
}
