using System.Text;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;

namespace Dynamo.Llm.Tests.Protocol;

public sealed class RequestSizeTests
{
    private static ParsedRequest Parse(RequestKind kind, string json) =>
        OpenAiRequestParser.Parse(kind, Encoding.UTF8.GetBytes(json), RequestLimits.Default);

    [Fact]
    public void Sequences_ArePromptsTimesN_AndOnePromptForChat()
    {
        Assert.Equal(6, RequestSize.Sequences(Parse(RequestKind.Completion, """{"model":"m","prompt":["a","b","c"],"n":2}""")));
        Assert.Equal(8, RequestSize.Sequences(Parse(RequestKind.Completion, """{"model":"m","prompt":[[1,2],[3],[4],[5]],"n":2}""")));
        Assert.Equal(4, RequestSize.Sequences(Parse(RequestKind.Chat, """{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}],"n":4}""")));
    }

    [Fact]
    public void PromptChars_CountEveryTextPromptOrMessageContent_NotTokenIds()
    {
        Assert.Equal(7, RequestSize.PromptChars(Parse(RequestKind.Completion, """{"model":"m","prompt":["abc","defg"]}""")));
        Assert.Equal(0, RequestSize.PromptChars(Parse(RequestKind.Completion, """{"model":"m","prompt":[1,2,3]}""")));
        Assert.Equal(5, RequestSize.PromptChars(Parse(RequestKind.Chat, """{"model":"m","messages":[{"role":"system","content":"ab"},{"role":"user","content":"cde"}]}""")));
        Assert.Equal(1 + 1 + 7 + 2, RequestSize.PromptChars(Parse(RequestKind.Chat,
            """{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c","content":"ok"}]}""")));
    }

    [Fact]
    public void OverTheLimits_Are400sNamingTheLimitAndKey_WithoutThePrompt()
    {
        var request = Parse(RequestKind.Completion, """{"model":"m","prompt":["secret-prompt-text","more"],"n":3}""");

        var chars = Assert.Throws<OpenAiException>(() => RequestSize.CheckPromptChars(request, 10, "X:MaxPromptChars"));
        Assert.Equal(400, chars.StatusCode);
        Assert.Equal("prompt_too_long", chars.Code);
        Assert.Contains("22 characters", chars.Message, StringComparison.Ordinal);
        Assert.Contains("limit of 10", chars.Message, StringComparison.Ordinal);
        Assert.Contains("X:MaxPromptChars", chars.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", chars.Message, StringComparison.Ordinal);

        var sequences = Assert.Throws<OpenAiException>(() => RequestSize.CheckSequences(request, 5, "X:MaxSequencesPerRequest"));
        Assert.Equal("too_many_sequences", sequences.Code);
        Assert.Equal("n", sequences.Param);
        Assert.Contains("6 sequences (2 prompts × n = 3)", sequences.Message, StringComparison.Ordinal);
        Assert.Contains("X:MaxSequencesPerRequest", sequences.Message, StringComparison.Ordinal);

        RequestSize.CheckPromptChars(request, 22, "X:MaxPromptChars");
        RequestSize.CheckSequences(request, 6, "X:MaxSequencesPerRequest");
    }

    [Fact]
    public void OverTheSequenceLimit_WithOnePrompt_SaysPromptInTheSingular()
    {
        var chat = Parse(RequestKind.Chat, """{"model":"m","messages":[{"role":"user","content":"hi"}],"n":6}""");
        var completion = Parse(RequestKind.Completion, """{"model":"m","prompt":"hi","n":6}""");

        var fromChat = Assert.Throws<OpenAiException>(() => RequestSize.CheckSequences(chat, 5, "X:MaxSequencesPerRequest"));
        var fromCompletion = Assert.Throws<OpenAiException>(() => RequestSize.CheckSequences(completion, 5, "X:MaxSequencesPerRequest"));

        Assert.Contains("6 sequences (1 prompt × n = 6)", fromChat.Message, StringComparison.Ordinal);
        Assert.Contains("6 sequences (1 prompt × n = 6)", fromCompletion.Message, StringComparison.Ordinal);
    }
}
