using System.Text;
using Dynamo.Contracts.OpenAi;
using Dynamo.Contracts.Routing;
using Dynamo.Llm.Protocol;

namespace Dynamo.Llm.Tests.Protocol;

/// <summary><c>nvext</c>: the hints of agents and apps are parsed, and a nonsense value is a 400 naming the field.</summary>
public sealed class HintsParsingTests
{
    private static readonly RequestLimits Limits = new() { VocabSize = 50257 };

    [Theory]
    [InlineData(RequestKind.Chat)]
    [InlineData(RequestKind.Completion)]
    public void Hints_AreParsed(RequestKind kind)
    {
        var request = Parse(kind, """{"session_id":"agent-7/run-42 ✓","expected_output_tokens":200,"priority":-3}""");
        Assert.Equal(new RequestHints("agent-7/run-42 ✓", 200, -3), request.Hints);
    }

    [Fact]
    public void Hints_AreOptional_NullMeansNotGiven()
    {
        Assert.Null(Parse(RequestKind.Chat, null).Hints);
        Assert.Null(Parse(RequestKind.Chat, "null").Hints);
        Assert.Null(Parse(RequestKind.Chat, "{}").Hints);
        Assert.Null(Parse(RequestKind.Chat, """{"session_id":null,"priority":null}""").Hints);
        Assert.Equal(new RequestHints(null, null, 100), Parse(RequestKind.Chat, """{"priority":100}""").Hints);
        Assert.Equal(new RequestHints("s", null, 0), Parse(RequestKind.Chat, """{"session_id":"s"}""").Hints);
        Assert.Equal(new RequestHints(null, 7, 0), Parse(RequestKind.Chat, """{"expected_output_tokens":7.0}""", ",\"max_tokens\":7").Hints);
    }

    [Theory]
    [InlineData("[]", "nvext")]
    [InlineData("\"s1\"", "nvext")]
    [InlineData("""{"sessionid":"s1"}""", "nvext.sessionid")]
    [InlineData("""{"agent_hints":{"priority":1}}""", "nvext.agent_hints")]
    [InlineData("""{"session_id":42}""", "nvext.session_id")]
    [InlineData("""{"session_id":""}""", "nvext.session_id")]
    [InlineData("""{"session_id":"a\nb"}""", "nvext.session_id")]
    [InlineData("""{"session_id":"a\u0000b"}""", "nvext.session_id")]
    [InlineData("""{"session_id":"\ud800"}""", "nvext.session_id")]
    [InlineData("""{"session_id":["s"]}""", "nvext.session_id")]
    [InlineData("""{"expected_output_tokens":0}""", "nvext.expected_output_tokens")]
    [InlineData("""{"expected_output_tokens":-5}""", "nvext.expected_output_tokens")]
    [InlineData("""{"expected_output_tokens":1.5}""", "nvext.expected_output_tokens")]
    [InlineData("""{"expected_output_tokens":"200"}""", "nvext.expected_output_tokens")]
    [InlineData("""{"expected_output_tokens":1048577}""", "nvext.expected_output_tokens")]
    [InlineData("""{"priority":101}""", "nvext.priority")]
    [InlineData("""{"priority":-101}""", "nvext.priority")]
    [InlineData("""{"priority":1.5}""", "nvext.priority")]
    [InlineData("""{"priority":"high"}""", "nvext.priority")]
    [InlineData("""{"priority":true}""", "nvext.priority")]
    [InlineData("""{"priority":1,"bogus":2}""", "nvext.bogus")]
    public void NonsenseValues_Are400_NamingTheField(string nvext, string param)
    {
        foreach (var kind in new[] { RequestKind.Chat, RequestKind.Completion })
        {
            var error = Assert.Throws<OpenAiException>(() => Parse(kind, nvext));
            Assert.Equal((400, param), (error.StatusCode, error.Param));
        }
    }

    [Fact]
    public void SessionId_OfTheLengthLimit_IsAccepted_OneMoreIsNot()
    {
        var longest = new string('x', RequestHints.MaxSessionIdLength);
        Assert.Equal(longest, Parse(RequestKind.Chat, $$"""{"session_id":"{{longest}}"}""").Hints!.SessionId);
        var error = Assert.Throws<OpenAiException>(() => Parse(RequestKind.Chat, $$"""{"session_id":"{{longest}}x"}"""));
        Assert.Equal("nvext.session_id", error.Param);
    }

    [Fact]
    public void ExpectedOutputTokens_AboveMaxTokens_Is400_WhicheverComesFirst()
    {
        Assert.Equal(64, Parse(RequestKind.Chat, """{"expected_output_tokens":64}""", ",\"max_tokens\":64").Hints!.ExpectedOutputTokens);
        foreach (var (nvext, extra) in new[]
        {
            ("""{"expected_output_tokens":65}""", ",\"max_tokens\":64"),
            ("""{"expected_output_tokens":65}""", ",\"max_completion_tokens\":64"),
        })
        {
            var error = Assert.Throws<OpenAiException>(() => Parse(RequestKind.Chat, nvext, extra));
            Assert.Equal("nvext.expected_output_tokens", error.Param);
        }

        var beforeNvext = Encoding.UTF8.GetBytes("""{"model":"m","max_tokens":10,"nvext":{"expected_output_tokens":11},"prompt":"hi"}""");
        Assert.Equal("nvext.expected_output_tokens", Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(RequestKind.Completion, beforeNvext, Limits)).Param);

        // With MaxTokensCap set, that is the bound.
        var capped = Encoding.UTF8.GetBytes("""{"model":"m","prompt":"hi","nvext":{"expected_output_tokens":4097}}""");
        Assert.Equal("nvext.expected_output_tokens",
            Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(RequestKind.Completion, capped, Limits with { MaxTokensCap = 4096 })).Param);
    }

    [Fact]
    public void Responses_PassHintsToTheChatBody_AndTheirErrorsNameTheField()
    {
        var translated = ResponsesRequestTranslator.Translate(
            """{"model":"m","input":"hi","max_output_tokens":50,"nvext":{"session_id":"s9","expected_output_tokens":40,"priority":2}}"""u8, Limits, _ => null);
        Assert.Equal(new RequestHints("s9", 40, 2), OpenAiRequestParser.Parse(RequestKind.Chat, translated.ChatBody, Limits).Hints);

        var bad = ResponsesRequestTranslator.Translate("""{"model":"m","input":"hi","nvext":{"priority":"urgent"}}"""u8, Limits, _ => null);
        var error = Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(RequestKind.Chat, bad.ChatBody, Limits));
        Assert.Equal("nvext.priority", ResponsesRequestTranslator.MapError(error).Param);
    }

    private static ParsedRequest Parse(RequestKind kind, string? nvext, string extra = "")
    {
        var input = kind == RequestKind.Chat ? "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" : "\"prompt\":\"hi\"";
        var hints = nvext is null ? "" : ",\"nvext\":" + nvext;
        return OpenAiRequestParser.Parse(kind, Encoding.UTF8.GetBytes("{\"model\":\"m\"," + input + hints + extra + "}"), Limits);
    }
}
