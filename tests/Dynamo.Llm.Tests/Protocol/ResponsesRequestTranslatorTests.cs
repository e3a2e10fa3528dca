using System.Text;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;

namespace Dynamo.Llm.Tests.Protocol;

/// <summary>The Responses body becomes the chat body the rest of the path serves.</summary>
public sealed class ResponsesRequestTranslatorTests
{
    private static readonly RequestLimits Limits = new() { VocabSize = 50257 };

    private static ResponsesRequest Translate(string json, Func<string, byte[]?>? history = null) =>
        ResponsesRequestTranslator.Translate(Encoding.UTF8.GetBytes(json), Limits, history ?? (_ => null));

    [Fact]
    public void Instructions_History_AndInput_BecomeMessagesInOrder()
    {
        var history = """[{"role":"user","content":"My name is Ada."},{"role":"assistant","content":"Hello Ada."}]"""u8.ToArray();
        var request = Translate(
            """
            {"model":"tiny","instructions":"Be terse.","previous_response_id":"resp_1","max_output_tokens":9,"temperature":0.5,
             "input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]},
                      {"role":"user","content":"What is my name?"}]}
            """,
            id => id == "resp_1" ? history : null);

        var chat = OpenAiRequestParser.Parse(RequestKind.Chat, request.ChatBody, Limits);
        Assert.Equal(
            [("system", "Be terse."), ("user", "My name is Ada."), ("assistant", "Hello Ada."), ("system", "a\nb"), ("user", "What is my name?")],
            chat.Messages.Select(m => (m.Role, m.Content)));
        Assert.Equal(9, chat.MaxTokens);
        Assert.Equal(0.5f, chat.Sampling.Temperature);

        // What the store keeps of this turn: its input only (no instructions, no history).
        using var input = JsonDocument.Parse(request.InputMessages);
        Assert.Equal(2, input.RootElement.GetArrayLength());
        Assert.Equal("resp_1", request.PreviousResponseId);
        Assert.True(request.Store);
    }

    [Fact]
    public void StringInput_IsOneUserMessage()
    {
        var chat = OpenAiRequestParser.Parse(RequestKind.Chat, Translate("""{"model":"tiny","input":"hi","stream":true}""").ChatBody, Limits);

        Assert.Equal(("user", "hi"), (chat.Messages[0].Role, chat.Messages[0].Content));
        Assert.True(chat.Stream);
    }

    [Fact]
    public void UnknownPreviousResponse_Is404()
    {
        var error = Assert.Throws<OpenAiException>(() => Translate("""{"model":"tiny","input":"hi","previous_response_id":"resp_gone"}"""));

        Assert.Equal((404, "previous_response_id", "previous_response_not_found"), (error.StatusCode, error.Param, error.Code));
    }

    [Fact]
    public void ChatParserErrors_NameTheResponsesFields()
    {
        var request = Translate("""{"model":"tiny","input":"hi","text":{"format":{"type":"json_schema","name":"x","schema":{"type":"string","pattern":"^a"}}}}""");
        var error = Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(RequestKind.Chat, request.ChatBody, Limits));

        var mapped = ResponsesRequestTranslator.MapError(error);
        Assert.Equal("text.format", mapped.Param);
        Assert.Contains("text.format", mapped.Message);
        Assert.DoesNotContain("response_format", mapped.Message);
    }

    [Fact]
    public void FunctionCallItems_BecomeToolCallsAndToolMessages()
    {
        var request = Translate(
            """
            {"model":"tiny","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],
             "input":[{"role":"user","content":"go"},
                      {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
                      {"type":"function_call","call_id":"c2","name":"f","arguments":"{\"x\":1}"},
                      {"type":"function_call_output","call_id":"c1","output":"one"},
                      {"type":"function_call_output","call_id":"c2","output":[{"type":"input_text","text":"two"}]}]}
            """);

        var chat = OpenAiRequestParser.Parse(RequestKind.Chat, request.ChatBody, Limits);
        Assert.Equal(["user", "assistant", "tool", "tool"], chat.Messages.Select(m => m.Role));
        Assert.Equal(["c1", "c2"], chat.Messages[1].ToolCalls.Select(c => c.Id));
        Assert.Equal(("c2", "two"), (chat.Messages[3].ToolCallId, chat.Messages[3].Content));
        Assert.Equal("f", Assert.Single(chat.Tools).Name);
    }
}
