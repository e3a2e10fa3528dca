using System.Text;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;

namespace Dynamo.Llm.Tests.Protocol;

public sealed class OpenAiRequestParserTests
{
    private static readonly RequestLimits Limits = new() { VocabSize = 50257 };

    private static ParsedRequest Completion(string json) => OpenAiRequestParser.Parse(RequestKind.Completion, Encoding.UTF8.GetBytes(json), Limits);

    private static ParsedRequest Chat(string json) => OpenAiRequestParser.Parse(RequestKind.Chat, Encoding.UTF8.GetBytes(json), Limits);

    [Fact]
    public void Parse_MinimalCompletion_HasOpenAiDefaults()
    {
        var r = Completion("""{"model":"m","prompt":"Hello"}""");

        Assert.Equal(RequestKind.Completion, r.Kind);
        Assert.Equal("m", r.Model);
        Assert.Equal("Hello", Assert.Single(r.Prompts).Text);
        Assert.Null(r.MaxTokens);
        Assert.Equal(1, r.N);
        Assert.Equal(1f, r.Sampling.Temperature);
        Assert.Equal(1f, r.Sampling.TopP);
        Assert.Equal(0, r.Sampling.TopK);
        Assert.Null(r.Sampling.Seed);
        Assert.Empty(r.Stop);
        Assert.Empty(r.StopTokenIds);
        Assert.False(r.Stream);
        Assert.False(r.IncludeUsage);
        Assert.False(r.IgnoreEos);
        Assert.Null(r.User);
        Assert.Null(r.KvTransferParams);
        Assert.Empty(r.Messages);
    }

    [Fact]
    public void Parse_EveryCompletionField_IsRead()
    {
        var r = Completion("""
            {"model":"llama","prompt":[1,2,3],"max_tokens":7,"temperature":0.5,"top_p":0.9,"top_k":40,
             "presence_penalty":-1.5,"frequency_penalty":2,"n":3,"seed":42,"stop":["a","bc"],"stop_token_ids":[5,6],
             "stream":true,"stream_options":{"include_usage":true},"ignore_eos":true,"user":"u-1",
             "kv_transfer_params":{"do_remote_decode":true,"blocks":[1,2]}}
            """);

        Assert.Equal("llama", r.Model);
        Assert.Equal(new[] { 1, 2, 3 }, Assert.Single(r.Prompts).TokenIds);
        Assert.Equal(7, r.MaxTokens);
        Assert.Equal(0.5f, r.Sampling.Temperature);
        Assert.Equal(0.9f, r.Sampling.TopP);
        Assert.Equal(40, r.Sampling.TopK);
        Assert.Equal(-1.5f, r.Sampling.PresencePenalty);
        Assert.Equal(2f, r.Sampling.FrequencyPenalty);
        Assert.Equal(3, r.N);
        Assert.Equal(42UL, r.Sampling.Seed);
        Assert.Equal(["a", "bc"], r.Stop);
        Assert.Equal([5, 6], r.StopTokenIds);
        Assert.True(r.Stream);
        Assert.True(r.IncludeUsage);
        Assert.True(r.IgnoreEos);
        Assert.Equal("u-1", r.User);
        Assert.True(r.KvTransferParams!.Value.GetProperty("do_remote_decode").GetBoolean());
    }

    [Fact]
    public void Parse_PromptShapes_AllAccepted()
    {
        var texts = Completion("""{"model":"m","prompt":["a","b"]}""").Prompts;
        Assert.Equal(["a", "b"], texts.Select(p => p.Text));
        Assert.All(texts, p => Assert.Null(p.TokenIds));

        var ids = Completion("""{"model":"m","prompt":[0,50256]}""").Prompts;
        Assert.Equal([0, 50256], Assert.Single(ids).TokenIds!);
        Assert.Null(ids[0].Text);

        var batches = Completion("""{"model":"m","prompt":[[1],[2,3],[4,5,6]]}""").Prompts;
        Assert.Equal(3, batches.Count);
        Assert.Equal([4, 5, 6], batches[2].TokenIds!);
    }

    [Fact]
    public void Parse_LongTokenPrompt_KeepsEveryId()
    {
        var ids = Enumerable.Range(0, 10_000).Select(i => i % 50257).ToArray();
        var r = Completion("{\"model\":\"m\",\"prompt\":[" + string.Join(",", ids) + "]}");
        Assert.Equal(ids, r.Prompts[0].TokenIds!);
    }

    [Fact]
    public void Parse_Chat_ReadsMessagesAndMapsRoles()
    {
        var r = Chat("""
            {"model":"m","messages":[
              {"role":"developer","content":"be brief"},
              {"role":"system","content":"sys"},
              {"role":"user","content":[{"type":"text","text":"part one"},{"type":"text","text":"part two"}],"name":"bob"},
              {"role":"assistant","content":null,"tool_calls":[]},
              {"role":"assistant"},
              {"role":"user","content":[{"type":"text","text":"only"}]}
            ],"max_completion_tokens":9}
            """);

        Assert.Equal(RequestKind.Chat, r.Kind);
        Assert.Equal(
            [new("system", "be brief"), new("system", "sys"), new("user", "part one\npart two") { Name = "bob" }, new("assistant", ""), new("assistant", ""), new ChatMessage("user", "only")],
            r.Messages);
        Assert.Equal(9, r.MaxTokens);
        Assert.Empty(r.Prompts);
    }

    [Fact]
    public void Parse_MaxCompletionTokens_WinsOverMaxTokens()
    {
        Assert.Equal(3, Completion("""{"model":"m","prompt":"x","max_completion_tokens":3,"max_tokens":10}""").MaxTokens);
        Assert.Equal(3, Completion("""{"model":"m","prompt":"x","max_tokens":10,"max_completion_tokens":3}""").MaxTokens);
    }

    [Fact]
    public void Parse_NullOptionalFields_MeanNotGiven()
    {
        var r = Completion("""
            {"model":"m","prompt":"x","max_tokens":null,"temperature":null,"top_p":null,"top_k":null,"n":null,"seed":null,
             "stop":null,"stop_token_ids":null,"stream":null,"stream_options":null,"ignore_eos":null,"user":null,
             "kv_transfer_params":null,"presence_penalty":null,"frequency_penalty":null}
            """);

        Assert.Null(r.MaxTokens);
        Assert.Equal(1, r.N);
        Assert.Equal(1f, r.Sampling.Temperature);
        Assert.Empty(r.Stop);
        Assert.False(r.Stream);
        Assert.Null(r.KvTransferParams);
    }

    [Theory]
    [InlineData("\"stop\":\"END\"", new[] { "END" })]
    [InlineData("\"stop\":[]", new string[0])]
    [InlineData("\"stop\":[\"a\",\"b\",\"c\",\"d\"]", new[] { "a", "b", "c", "d" })]
    [InlineData("\"stop\":\"\\n\\n\"", new[] { "\n\n" })]
    public void Parse_StopShapes(string field, string[] expected)
    {
        Assert.Equal(expected, Completion("{\"model\":\"m\",\"prompt\":\"x\"," + field + "}").Stop);
    }

    [Theory]
    [InlineData("-1", 0)]
    [InlineData("0", 0)]
    [InlineData("1", 1)]
    [InlineData("50", 50)]
    public void Parse_TopK_MinusOneAndZeroDisable(string value, int expected)
    {
        Assert.Equal(expected, Completion("{\"model\":\"m\",\"prompt\":\"x\",\"top_k\":" + value + "}").Sampling.TopK);
    }

    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("-1", ulong.MaxValue)]
    [InlineData("9223372036854775807", 9223372036854775807UL)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    [InlineData("-9223372036854775808", 9223372036854775808UL)]
    public void Parse_Seed_AcceptsAny64BitInteger(string value, ulong expected)
    {
        Assert.Equal(expected, Completion("{\"model\":\"m\",\"prompt\":\"x\",\"seed\":" + value + "}").Sampling.Seed);
    }

    [Theory]
    [InlineData("0", 0f)]
    [InlineData("2", 2f)]
    [InlineData("2.0", 2f)]
    [InlineData("1e-3", 0.001f)]
    public void Parse_TemperatureBounds_AreInclusive(string value, float expected)
    {
        Assert.Equal(expected, Completion("{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":" + value + "}").Sampling.Temperature);
    }

    [Theory]
    [InlineData("5.0", 5)]
    [InlineData("1e3", 1000)]
    [InlineData("1", 1)]
    public void Parse_IntegralDecimals_AreIntegers(string value, int expected)
    {
        Assert.Equal(expected, Completion("{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":" + value + "}").MaxTokens);
    }

    [Fact]
    public void Parse_NBoundaries()
    {
        Assert.Equal(16, Completion("""{"model":"m","prompt":"x","n":16}""").N);
        Assert.Equal(1, Completion("""{"model":"m","prompt":"x","n":1}""").N);
    }

    [Fact]
    public void Parse_TopPBoundary_OneIsAccepted()
    {
        Assert.Equal(1f, Completion("""{"model":"m","prompt":"x","top_p":1}""").Sampling.TopP);
        Assert.Equal(0.01f, Completion("""{"model":"m","prompt":"x","top_p":0.01}""").Sampling.TopP);
    }

    [Fact]
    public void Parse_IncludeUsage_OnlyWhenStreaming()
    {
        Assert.False(Completion("""{"model":"m","prompt":"x","stream":true}""").IncludeUsage);
        Assert.False(Completion("""{"model":"m","prompt":"x","stream":true,"stream_options":{"include_usage":false}}""").IncludeUsage);
        Assert.True(Completion("""{"stream_options":{"include_usage":true,"continuous_usage_stats":false},"model":"m","prompt":"x","stream":true}""").IncludeUsage);
    }

    [Fact]
    public void Parse_UnknownFields_AndUnsupportedParametersThatAskForNothing_AreIgnored()
    {
        var r = Completion("""
            {"logprobs":null,"echo":false,"suffix":"","best_of":1,"logit_bias":{},"extra":{"deep":[[{"a":[1,2,{"b":null}]}]]},
             "model":"m","prompt":"x","response_format":{"type":"text"},"tools":[],"tool_choice":"none","top_logprobs":0,"min_tokens":0}
            """);
        Assert.Equal("m", r.Model);
        var chat = Chat("""
            {"model":"m","messages":[{"role":"user","content":"hi"}],"logprobs":false,"tools":null,"tool_choice":"auto","functions":[],
             "modalities":["text"],"audio":null,"repetition_penalty":1,"skip_special_tokens":true,"add_generation_prompt":true,"chat_template_kwargs":{}}
            """);
        Assert.Equal("m", chat.Model);
    }

    [Fact]
    public void Parse_Logprobs_ChatSwitchWithTopCount_CompletionsCount_AndEcho()
    {
        const string Chat0 = """{"model":"m","messages":[{"role":"user","content":"hi"}]""";
        Assert.Null(Chat(Chat0 + "}").Logprobs);
        Assert.Null(Chat(Chat0 + ""","logprobs":false,"top_logprobs":0}""").Logprobs);
        Assert.Equal(0, Chat(Chat0 + ""","logprobs":true}""").Logprobs);
        Assert.Equal(20, Chat(Chat0 + ""","top_logprobs":20,"logprobs":true}""").Logprobs);
        Assert.Null(Completion("""{"model":"m","prompt":"x"}""").Logprobs);
        Assert.Equal(0, Completion("""{"model":"m","prompt":"x","logprobs":0}""").Logprobs);
        Assert.Equal(5, Completion("""{"model":"m","prompt":"x","logprobs":5}""").Logprobs);
        Assert.True(Completion("""{"model":"m","prompt":"x","echo":true}""").Echo);
        Assert.True(Completion("""{"model":"m","prompt":"x","logprobs":1,"return_tokens_as_token_ids":true}""").ReturnTokensAsTokenIds);

        // Workers take chat's top count through the completions contract.
        Assert.Equal(20, OpenAiRequestParser.Parse(RequestKind.Completion, """{"model":"m","prompt":"x","logprobs":20}"""u8,
            RequestLimits.Default with { MaxCompletionLogprobs = 20 }).Logprobs);

        // And prompt_logprobs (echo with logprobs), which only limits that accept it read; chat never does.
        var worker = RequestLimits.Default with { AcceptPromptLogprobs = true };
        var scored = OpenAiRequestParser.Parse(RequestKind.Completion, """{"model":"m","prompt":"x","logprobs":2,"prompt_logprobs":2}"""u8, worker);
        Assert.Equal(2, scored.PromptLogprobs);
        Assert.Null(Completion("""{"model":"m","prompt":"x","logprobs":2,"echo":true}""").PromptLogprobs);
        Assert.True(Completion("""{"model":"m","prompt":"x","logprobs":2,"echo":true}""").EchoesLogprobs);
        Assert.Equal("prompt_logprobs", Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(RequestKind.Completion, """{"model":"m","prompt":"x","prompt_logprobs":6}"""u8, worker)).Param);
        Assert.Equal("prompt_logprobs", Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(RequestKind.Chat, """{"model":"m","messages":[{"role":"user","content":"hi"}],"prompt_logprobs":1}"""u8, worker)).Param);
    }

    [Theory]
    [InlineData(RequestKind.Chat, ""","logprobs":true,"top_logprobs":21""", "top_logprobs")]
    [InlineData(RequestKind.Chat, ""","top_logprobs":1""", "top_logprobs")]
    [InlineData(RequestKind.Chat, ""","logprobs":1""", "logprobs")]
    [InlineData(RequestKind.Completion, ""","logprobs":6""", "logprobs")]
    [InlineData(RequestKind.Completion, ""","logprobs":true""", "logprobs")]
    [InlineData(RequestKind.Completion, ""","echo":1""", "echo")]
    public void Parse_LogprobsOutOfRangeOrMistyped_Is400NamingIt(RequestKind kind, string extra, string param)
    {
        var body = (kind == RequestKind.Chat ? """{"model":"m","messages":[{"role":"user","content":"hi"}]""" : """{"model":"m","prompt":"x" """.TrimEnd()) + extra + "}";
        var error = Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(kind, System.Text.Encoding.UTF8.GetBytes(body), RequestLimits.Default));
        Assert.Equal(400, error.StatusCode);
        Assert.Equal(param, error.Param);
    }

    /// <summary>Parameters of the API this server does not implement: asking for them is a 400 naming them, never a silent no-op.</summary>
    [Theory]
    [InlineData(RequestKind.Completion, "tools", """[{"type":"function","function":{"name":"f","parameters":{}}}]""")]
    [InlineData(RequestKind.Completion, "tool_choice", "\"required\"")]
    [InlineData(RequestKind.Chat, "functions", """[{"name":"f"}]""")]
    [InlineData(RequestKind.Completion, "prompt_logprobs", "0")]
    [InlineData(RequestKind.Completion, "top_logprobs", "2")]
    [InlineData(RequestKind.Completion, "suffix", "\"}\"")]
    [InlineData(RequestKind.Completion, "best_of", "3")]
    [InlineData(RequestKind.Completion, "logit_bias", """{"50256":-100}""")]
    [InlineData(RequestKind.Chat, "modalities", """["text","audio"]""")]
    [InlineData(RequestKind.Chat, "reasoning_effort", "\"low\"")]
    [InlineData(RequestKind.Chat, "min_tokens", "5")]
    [InlineData(RequestKind.Completion, "repetition_penalty", "1.1")]
    [InlineData(RequestKind.Chat, "guided_json", """{"type":"object"}""")]
    [InlineData(RequestKind.Chat, "skip_special_tokens", "false")]
    public void Parse_UnsupportedParameterAskingForSomething_Is400NamingIt(RequestKind kind, string name, string value)
    {
        var body = kind == RequestKind.Chat
            ? $$"""{"model":"m","messages":[{"role":"user","content":"hi"}],"{{name}}":{{value}}}"""
            : $$"""{"model":"m","prompt":"x","{{name}}":{{value}}}""";
        var error = Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(kind, Encoding.UTF8.GetBytes(body), Limits));
        Assert.Equal(400, error.StatusCode);
        Assert.Equal(name, error.Param);
        Assert.Equal("unsupported_parameter", error.Code);
        Assert.StartsWith($"'{name}' is not supported by this server yet (", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_FieldNotForThisKind_IsIgnored()
    {
        Assert.Empty(Chat("""{"model":"m","messages":[{"role":"user","content":"hi"}],"prompt":{"bad":1}}""").Prompts);
        Assert.Empty(Completion("""{"model":"m","prompt":"x","messages":42}""").Messages);
    }

    [Fact]
    public void Parse_EscapedNamesAndValues_AreUnescaped()
    {
        var r = Completion("""{"mod\u0065l":"m\u00e9","prompt":"line\nnext \ud83d\ude00"}""");
        Assert.Equal("mé", r.Model);
        Assert.Equal("line\nnext 😀", r.Prompts[0].Text);
    }

    [Fact]
    public void Parse_DuplicateKey_LastWins()
    {
        var r = Completion("""{"model":"a","model":"b","prompt":"x","max_tokens":3,"max_tokens":4}""");
        Assert.Equal("b", r.Model);
        Assert.Equal(4, r.MaxTokens);
    }

    [Fact]
    public void Parse_KvTransferParams_SurvivesTheBodyBuffer()
    {
        var body = Encoding.UTF8.GetBytes("""{"model":"m","prompt":[1],"kv_transfer_params":{"remote_engine_id":"e1","remote_block_ids":[3,4]}}""");
        var r = OpenAiRequestParser.Parse(RequestKind.Completion, body, Limits);
        Array.Clear(body);

        var kv = r.KvTransferParams!.Value;
        Assert.Equal(JsonValueKind.Object, kv.ValueKind);
        Assert.Equal("e1", kv.GetProperty("remote_engine_id").GetString());
        Assert.Equal(4, kv.GetProperty("remote_block_ids")[1].GetInt32());
    }

    [Fact]
    public void Parse_WhitespaceAroundBody_IsAccepted()
    {
        Assert.Equal("m", Completion(" \r\n\t{\"model\":\"m\",\"prompt\":\"x\"} \n").Model);
    }

    [Fact]
    public void Parse_Utf8Bom_IsRejectedAsInvalidJson()
    {
        // Utf8JsonReader does not skip a BOM; clients send none. Documented here so a change is noticed.
        byte[] body = [0xEF, 0xBB, 0xBF, .. """{"model":"m","prompt":"x"}"""u8];
        Assert.Throws<OpenAiException>(() => OpenAiRequestParser.Parse(RequestKind.Completion, body, Limits));
    }

    [Fact]
    public void Parse_WithoutVocabSize_AcceptsLargeTokenIds()
    {
        var r = OpenAiRequestParser.Parse(RequestKind.Completion, """{"model":"m","prompt":[2000000000]}"""u8, RequestLimits.Default);
        Assert.Equal([2_000_000_000], r.Prompts[0].TokenIds!);
    }

    [Fact]
    public void RequestLimits_Validate_NamesBadKeys()
    {
        Assert.Empty(RequestLimits.Default.Validate());
        var errors = new RequestLimits { MaxN = 0, MaxJsonDepth = 1, VocabSize = 0 }.Validate("Dynamo:Worker:RequestLimits");
        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("Dynamo:Worker:RequestLimits:MaxN") && e.Contains('0'));
    }
}
