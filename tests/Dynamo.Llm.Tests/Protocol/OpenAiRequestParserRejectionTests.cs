using System.Text;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;

namespace Dynamo.Llm.Tests.Protocol;

public sealed class OpenAiRequestParserRejectionTests
{
    private static readonly RequestLimits Limits = new() { VocabSize = 50257, MaxTokensCap = 4096 };

    private const RequestKind C = RequestKind.Completion;
    private const RequestKind Chat = RequestKind.Chat;

    /// <summary>(case name, kind, body, expected param). Every row must come back as a 400 naming that param.</summary>
    public static TheoryData<string, RequestKind, byte[], string?> HostileBodies()
    {
        var data = new TheoryData<string, RequestKind, byte[], string?>();
        void Add(string name, RequestKind kind, string body, string? param) => data.Add(name, kind, Encoding.UTF8.GetBytes(body), param);
        const string M = "\"model\":\"m\"";
        const string Msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";

        // Body-level
        Add("empty body", C, "", null);
        Add("not json", C, "hello", null);
        Add("array body", C, "[]", null);
        Add("string body", C, "\"text\"", null);
        Add("null body", C, "null", null);
        Add("trailing garbage", C, "{" + M + ",\"prompt\":\"x\"} trailing", null);
        Add("truncated", C, "{" + M + ",\"prompt\":\"x\"", null);
        Add("comment", C, "{" + M + ",/* hi */\"prompt\":\"x\"}", null);
        Add("trailing comma", C, "{" + M + ",\"prompt\":\"x\",}", null);
        data.Add("invalid utf-8 bytes in a string", C, [.. "{\"model\":\"m\",\"prompt\":\""u8, 0xFF, 0xFE, 0xC3, .. "\"}"u8], null);
        data.Add("overlong utf-8 encoding", C, [.. "{\"model\":\"m\",\"prompt\":\""u8, 0xC0, 0xAF, .. "\"}"u8], null);
        Add("top-level nesting 10k", C, new string('[', 10_000) + new string(']', 10_000), null);
        Add("nesting 10k in unknown field", C, "{" + M + ",\"prompt\":\"x\",\"junk\":" + new string('[', 10_000) + new string(']', 10_000) + "}", "junk");
        Add("nesting 10k objects in kv_transfer_params", C, "{" + M + ",\"prompt\":\"x\",\"kv_transfer_params\":" + string.Concat(Enumerable.Repeat("{\"a\":", 10_000)) + "1" + new string('}', 10_000) + "}", "kv_transfer_params");
        Add("nesting in a message", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"x\":" + new string('[', 100) + new string(']', 100) + "}]}", "messages");
        Add("array of arrays as messages", Chat, "{" + M + ",\"messages\":" + new string('[', 100) + new string(']', 100) + "}", "messages[0]");
        Add("NaN literal", C, "{" + M + ",\"prompt\":\"x\",\"temperature\":NaN}", "temperature");

        // model
        Add("model missing", C, "{\"prompt\":\"x\"}", "model");
        Add("model null", C, "{\"model\":null,\"prompt\":\"x\"}", "model");
        Add("model number", C, "{\"model\":42,\"prompt\":\"x\"}", "model");
        Add("model empty", C, "{\"model\":\"\",\"prompt\":\"x\"}", "model");
        Add("model array", C, "{\"model\":[\"m\"],\"prompt\":\"x\"}", "model");
        Add("duplicate model, second invalid", C, "{" + M + ",\"model\":5,\"prompt\":\"x\"}", "model");
        Add("lone surrogate escape", C, "{\"model\":\"\\ud800\",\"prompt\":\"x\"}", "model");

        // max tokens
        Add("max_tokens negative", C, "{" + M + ",\"prompt\":\"x\",\"max_tokens\":-1}", "max_tokens");
        Add("max_tokens zero", C, "{" + M + ",\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens");
        Add("max_tokens string", C, "{" + M + ",\"prompt\":\"x\",\"max_tokens\":\"10\"}", "max_tokens");
        Add("max_tokens 2^70", C, "{" + M + ",\"prompt\":\"x\",\"max_tokens\":1180591620717411303424}", "max_tokens");
        Add("max_tokens 1e400", C, "{" + M + ",\"prompt\":\"x\",\"max_tokens\":1e400}", "max_tokens");
        Add("max_tokens fraction", C, "{" + M + ",\"prompt\":\"x\",\"max_tokens\":5.5}", "max_tokens");
        Add("max_tokens over cap", C, "{" + M + ",\"prompt\":\"x\",\"max_tokens\":5000}", "max_tokens");
        Add("max_tokens over int32", C, "{" + M + ",\"prompt\":\"x\",\"max_tokens\":2147483648}", "max_tokens");
        Add("duplicate max_tokens, second negative", C, "{" + M + ",\"prompt\":\"x\",\"max_tokens\":5,\"max_tokens\":-5}", "max_tokens");
        Add("max_completion_tokens bool", Chat, "{" + M + "," + Msgs + ",\"max_completion_tokens\":true}", "max_completion_tokens");

        // sampling
        Add("temperature 1e400", C, "{" + M + ",\"prompt\":\"x\",\"temperature\":1e400}", "temperature");
        Add("temperature NaN string", C, "{" + M + ",\"prompt\":\"x\",\"temperature\":\"NaN\"}", "temperature");
        Add("temperature negative", C, "{" + M + ",\"prompt\":\"x\",\"temperature\":-0.1}", "temperature");
        Add("temperature above 2", C, "{" + M + ",\"prompt\":\"x\",\"temperature\":2.5}", "temperature");
        Add("top_p zero", C, "{" + M + ",\"prompt\":\"x\",\"top_p\":0}", "top_p");
        Add("top_p above 1", C, "{" + M + ",\"prompt\":\"x\",\"top_p\":1.5}", "top_p");
        Add("top_p object", C, "{" + M + ",\"prompt\":\"x\",\"top_p\":{}}", "top_p");
        Add("top_k -2", C, "{" + M + ",\"prompt\":\"x\",\"top_k\":-2}", "top_k");
        Add("presence_penalty 3", C, "{" + M + ",\"prompt\":\"x\",\"presence_penalty\":3}", "presence_penalty");
        Add("frequency_penalty -Infinity string", C, "{" + M + ",\"prompt\":\"x\",\"frequency_penalty\":\"-Infinity\"}", "frequency_penalty");
        Add("frequency_penalty -1e400", C, "{" + M + ",\"prompt\":\"x\",\"frequency_penalty\":-1e400}", "frequency_penalty");
        Add("n zero", C, "{" + M + ",\"prompt\":\"x\",\"n\":0}", "n");
        Add("n above max", C, "{" + M + ",\"prompt\":\"x\",\"n\":17}", "n");
        Add("n fraction", C, "{" + M + ",\"prompt\":\"x\",\"n\":2.5}", "n");
        Add("seed fraction", C, "{" + M + ",\"prompt\":\"x\",\"seed\":1.5}", "seed");
        Add("seed 2^70", C, "{" + M + ",\"prompt\":\"x\",\"seed\":1180591620717411303424}", "seed");
        Add("seed string", C, "{" + M + ",\"prompt\":\"x\",\"seed\":\"42\"}", "seed");

        // stop
        Add("stop number", C, "{" + M + ",\"prompt\":\"x\",\"stop\":5}", "stop");
        Add("stop five sequences", C, "{" + M + ",\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop");
        Add("stop empty element", C, "{" + M + ",\"prompt\":\"x\",\"stop\":[\"\"]}", "stop[0]");
        Add("stop non-string element", C, "{" + M + ",\"prompt\":\"x\",\"stop\":[\"a\",3]}", "stop[1]");
        Add("stop empty string", C, "{" + M + ",\"prompt\":\"x\",\"stop\":\"\"}", "stop");
        Add("stop_token_ids negative", C, "{" + M + ",\"prompt\":\"x\",\"stop_token_ids\":[-1]}", "stop_token_ids[0]");
        Add("stop_token_ids beyond vocab", C, "{" + M + ",\"prompt\":\"x\",\"stop_token_ids\":[1,50257]}", "stop_token_ids[1]");
        Add("stop_token_ids string", C, "{" + M + ",\"prompt\":\"x\",\"stop_token_ids\":\"x\"}", "stop_token_ids");

        // streaming and flags
        Add("stream string", C, "{" + M + ",\"prompt\":\"x\",\"stream\":\"yes\"}", "stream");
        Add("stream_options without stream", C, "{" + M + ",\"prompt\":\"x\",\"stream_options\":{\"include_usage\":true}}", "stream_options");
        Add("stream_options with stream false", C, "{" + M + ",\"prompt\":\"x\",\"stream\":false,\"stream_options\":{}}", "stream_options");
        Add("include_usage string", C, "{" + M + ",\"prompt\":\"x\",\"stream\":true,\"stream_options\":{\"include_usage\":\"true\"}}", "stream_options.include_usage");
        Add("stream_options array", C, "{" + M + ",\"prompt\":\"x\",\"stream\":true,\"stream_options\":[]}", "stream_options");
        Add("ignore_eos number", C, "{" + M + ",\"prompt\":\"x\",\"ignore_eos\":1}", "ignore_eos");
        Add("user number", C, "{" + M + ",\"prompt\":\"x\",\"user\":12}", "user");
        Add("kv_transfer_params string", C, "{" + M + ",\"prompt\":\"x\",\"kv_transfer_params\":\"x\"}", "kv_transfer_params");

        // chat messages
        Add("messages missing", Chat, "{" + M + "}", "messages");
        Add("messages empty", Chat, "{" + M + ",\"messages\":[]}", "messages");
        Add("messages null", Chat, "{" + M + ",\"messages\":null}", "messages");
        Add("messages string", Chat, "{" + M + ",\"messages\":\"hi\"}", "messages");
        Add("message not object", Chat, "{" + M + ",\"messages\":[42]}", "messages[0]");
        Add("role missing", Chat, "{" + M + ",\"messages\":[{\"content\":\"hi\"}]}", "messages[0].role");
        Add("role unknown", Chat, "{" + M + ",\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", "messages[0].role");
        Add("role function unsupported", Chat, "{" + M + ",\"messages\":[{\"role\":\"function\",\"content\":\"hi\"}]}", "messages[0].role");
        Add("role number", Chat, "{" + M + ",\"messages\":[{\"role\":1,\"content\":\"hi\"}]}", "messages[0].role");
        Add("user content null", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":null}]}", "messages[0].content");
        Add("user content missing", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\"}]}", "messages[0].content");
        Add("content number", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content");
        Add("content image part", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}", "messages[0].content[0].type");
        Add("content part without text", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", "messages[0].content[0].text");
        Add("content part without type", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]}", "messages[0].content[0].type");
        Add("content part not object", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":[\"hi\"]}]}", "messages[0].content[0]");
        Add("content empty array", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":[]}]}", "messages[0].content");
        Add("second message bad", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"b\"}]}", "messages[1].role");

        // completion prompt
        Add("prompt missing", C, "{" + M + "}", "prompt");
        Add("prompt empty string", C, "{" + M + ",\"prompt\":\"\"}", "prompt");
        Add("prompt empty array", C, "{" + M + ",\"prompt\":[]}", "prompt");
        Add("prompt null", C, "{" + M + ",\"prompt\":null}", "prompt");
        Add("prompt object", C, "{" + M + ",\"prompt\":{}}", "prompt");
        Add("prompt empty token array in batch", C, "{" + M + ",\"prompt\":[[]]}", "prompt[0]");
        Add("prompt negative token", C, "{" + M + ",\"prompt\":[1,-2]}", "prompt[1]");
        Add("prompt mixed ids and strings", C, "{" + M + ",\"prompt\":[1,\"a\"]}", "prompt[1]");
        Add("prompt mixed strings and ids", C, "{" + M + ",\"prompt\":[\"a\",1]}", "prompt[1]");
        Add("prompt token beyond vocab in batch", C, "{" + M + ",\"prompt\":[[1],[2,99999]]}", "prompt[1][1]");
        Add("prompt fractional token", C, "{" + M + ",\"prompt\":[1.5]}", "prompt[0]");
        Add("prompt token over int32", C, "{" + M + ",\"prompt\":[5000000000]}", "prompt[0]");
        Add("prompt bool element", C, "{" + M + ",\"prompt\":[true]}", "prompt[0]");
        Add("prompt empty string in batch", C, "{" + M + ",\"prompt\":[\"a\",\"\"]}", "prompt[1]");
        Add("prompt batch too large", C, "{" + M + ",\"prompt\":[" + string.Join(",", Enumerable.Repeat("\"a\"", 129)) + "]}", "prompt");
        return data;
    }

    [Theory]
    [MemberData(nameof(HostileBodies))]
    public void Parse_HostileBody_Returns400NamingTheParam(string name, RequestKind kind, byte[] body, string? param)
    {
        var ex = Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(kind, body, Limits));

        Assert.True(ex.StatusCode == 400, $"{name}: status {ex.StatusCode}");
        Assert.Equal("invalid_request_error", ex.Type);
        Assert.Equal(param, ex.Param);
        Assert.False(string.IsNullOrWhiteSpace(ex.Message), name);
        Assert.True(ex.Message.Length < 400, $"{name}: message should quote at most a short piece of the body, got {ex.Message.Length} chars");
    }

    /// <summary>
    /// A field's own error says which field it is: the message quotes the param it names, so a client reading only the
    /// message (most SDKs show nothing else) can find it. Only errors about the body's syntax or depth, which the
    /// reader raises wherever it happens to be, may leave the field to <c>param</c>.
    /// </summary>
    [Theory]
    [MemberData(nameof(HostileBodies))]
    public void Parse_HostileBody_MessageQuotesTheParamItNames(string name, RequestKind kind, byte[] body, string? param)
    {
        var ex = Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(kind, body, Limits));

        if (param is not null && !ex.Message.StartsWith("The request body ", StringComparison.Ordinal))
        {
            Assert.True(ex.Message.Contains($"'{param}'", StringComparison.Ordinal), $"{name}: '{ex.Message}' does not quote '{param}'");
        }
    }

    [Fact]
    public void Parse_OutOfRange_MessageNamesFieldAndValue()
    {
        var ex = Assert.Throws<OpenAiException>(() =>
            OpenAiRequestParser.Parse(C, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":3.5}"u8, Limits));

        Assert.Contains("'temperature'", ex.Message);
        Assert.Contains("3.5", ex.Message);
    }

    [Fact]
    public void Parse_HugeStringValue_IsNotEchoedInFull()
    {
        var body = "{\"model\":\"m\",\"prompt\":\"x\",\"user\":[\"" + new string('a', 1_000_000) + "\"]}";
        var ex = Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(C, Encoding.UTF8.GetBytes(body), Limits));
        Assert.Equal("user", ex.Param);

        var ex2 = Assert.Throws<OpenAiException>(() =>
            OpenAiRequestParser.Parse(C, Encoding.UTF8.GetBytes("{\"model\":\"m\",\"prompt\":\"x\",\"n\":\"" + new string('9', 100_000) + "\"}"), Limits));
        Assert.True(ex2.Message.Length < 200, ex2.Message);
    }

    [Fact]
    public void Parse_DepthWithinLimit_IsAccepted()
    {
        // kv_transfer_params at depth 1 holding 29 more levels: 31 < 32.
        var body = "{\"model\":\"m\",\"prompt\":\"x\",\"kv_transfer_params\":" + string.Concat(Enumerable.Repeat("{\"a\":", 30)) + "1" + new string('}', 30) + "}";
        var parsed = OpenAiRequestParser.Parse(C, Encoding.UTF8.GetBytes(body), Limits);
        Assert.NotNull(parsed.KvTransferParams);
    }

    [Fact]
    public void Parse_DepthLimitIsConfigurable()
    {
        var body = "{\"model\":\"m\",\"prompt\":\"x\",\"junk\":[[[[[[]]]]]]}"u8.ToArray();
        var ex = Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(C, body, new RequestLimits { MaxJsonDepth = 4 }));
        Assert.Contains("deeper than 4", ex.Message);
        Assert.Equal("junk", ex.Param);
    }
}
