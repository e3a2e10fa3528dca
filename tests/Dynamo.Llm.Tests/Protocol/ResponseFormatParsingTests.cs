using System.Text;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;
using Dynamo.Llm.Structured;

namespace Dynamo.Llm.Tests.Protocol;

public sealed class ResponseFormatParsingTests
{
    private static readonly RequestLimits Limits = new() { VocabSize = 50257 };

    private static ParsedRequest Chat(string responseFormat) => OpenAiRequestParser.Parse(RequestKind.Chat,
        Encoding.UTF8.GetBytes($$"""{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{{responseFormat}}}"""), Limits);

    [Fact]
    public void Text_AndNull_AskForNothing()
    {
        Assert.Null(Chat("""{"type":"text"}""").ResponseFormat);
        Assert.Null(Chat("null").ResponseFormat);
    }

    [Fact]
    public void JsonObject_And_JsonSchema_AreCompiled_AndKeptForForwarding()
    {
        Assert.Same(JsonGrammar.JsonObject, Chat("""{"type":"json_object"}""").ResponseFormat!.Grammar);
        var format = Chat("""{"type":"json_schema","json_schema":{"name":"w","strict":true,"schema":{"type":"object","properties":{"t":{"type":"number"}},"required":["t"],"additionalProperties":false}}}""").ResponseFormat!;
        Assert.Equal("json_schema 'w'", format.Grammar.Description);
        Assert.Equal("json_schema", format.Raw.GetProperty("type").GetString());
    }

    [Theory]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"w","schema":{"type":"string","pattern":"a+"}}}""", "'pattern'")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"w","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}}}}}""", "additionalProperties")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"w"}}""", "schema")]
    [InlineData("""{"type":"json_schema","json_schema":{"schema":{}}}""", "name")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"w","strict":"yes","schema":{}}}""", "strict")]
    [InlineData("""{"type":"xml"}""", "'xml'")]
    [InlineData("""{}""", "type")]
    [InlineData("\"json\"", "object")]
    public void Bad_OrUnsupported_IsA400_OnResponseFormat(string responseFormat, string expected)
    {
        var error = Assert.Throws<OpenAiException>(() => Chat(responseFormat));
        Assert.Equal(400, error.StatusCode);
        Assert.Equal("response_format", error.Param);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GeneratedPromptTokens_IsRead()
    {
        var r = OpenAiRequestParser.Parse(RequestKind.Completion, """{"model":"m","prompt":[1,2,3],"generated_prompt_tokens":2,"response_format":{"type":"json_object"}}"""u8, Limits);
        Assert.Equal(2, r.GeneratedPromptTokens);
    }
}
