using System.Text.Json;
using Dynamo.Worker.Tests.Infrastructure;

namespace Dynamo.Worker.Tests;

public sealed class CompletionsTests
{
    internal static string Ids(int count, int start = 1000) => "[" + string.Join(",", Enumerable.Range(start, count)) + "]";

    [Fact]
    public async Task Stream_TokenPrompt_SendsOneChunkPerTokenThenUsageThenDone()
    {
        await using var w = await TestWorker.StartAsync();

        var sse = await w.PostStreamAsync("/v1/completions",
            $$"""{"model":"test-model","prompt":{{Ids(20)}},"max_tokens":5,"stream":true,"stream_options":{"include_usage":true} }""");

        Assert.Equal("text/event-stream", sse.ContentType?.MediaType);
        Assert.True(sse.Done, "the stream must end with data: [DONE]");
        Assert.Equal(6, sse.Events.Count);
        var id = sse.Events[0].GetProperty("id").GetString();
        Assert.StartsWith("cmpl-", id);
        for (var i = 0; i < 5; i++)
        {
            var chunk = sse.Events[i];
            Assert.Equal(id, chunk.GetProperty("id").GetString());
            Assert.Equal("text_completion", chunk.GetProperty("object").GetString());
            Assert.Equal("test-model", chunk.GetProperty("model").GetString());
            Assert.True(chunk.GetProperty("created").GetInt64() > 1_600_000_000);
            var choice = Assert.Single(chunk.GetProperty("choices").EnumerateArray());
            Assert.Equal(0, choice.GetProperty("index").GetInt32());
            Assert.Equal(JsonValueKind.String, choice.GetProperty("text").ValueKind);
            Assert.Single(choice.GetProperty("token_ids").EnumerateArray());
            var finish = choice.GetProperty("finish_reason");
            if (i < 4)
            {
                Assert.Equal(JsonValueKind.Null, finish.ValueKind);
            }
            else
            {
                Assert.Equal("length", finish.GetString());
            }

            Assert.False(chunk.TryGetProperty("usage", out _), "only the last chunk carries usage");
        }

        var last = sse.Events[5];
        Assert.Empty(last.GetProperty("choices").EnumerateArray());
        var usage = last.GetProperty("usage");
        Assert.Equal(20, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(5, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(25, usage.GetProperty("total_tokens").GetInt32());
        Assert.Equal(0, usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
    }

    [Fact]
    public async Task Stream_WithoutIncludeUsage_HasNoUsageChunk()
    {
        await using var w = await TestWorker.StartAsync();

        var sse = await w.PostStreamAsync("/v1/completions", $$"""{"model":"test-model","prompt":{{Ids(8)}},"max_tokens":3,"stream":true}""");

        Assert.Equal(3, sse.Events.Count);
        Assert.All(sse.Events, e => Assert.Single(e.GetProperty("choices").EnumerateArray()));
        Assert.True(sse.Done);
    }

    [Fact]
    public async Task Stream_ChunkTextsJoined_EqualTheNonStreamedText()
    {
        await using var w = await TestWorker.StartAsync();
        const string Body = """{"model":"test-model","prompt":"Once upon a time","max_tokens":24,"seed":7,"stream":STREAM}""";

        var sse = await w.PostStreamAsync("/v1/completions", Body.Replace("STREAM", "true"));
        var whole = await w.PostJsonAsync("/v1/completions", Body.Replace("STREAM", "false"));

        var streamedText = string.Concat(sse.Events.Select(e => e.GetProperty("choices")[0].GetProperty("text").GetString()));
        var streamedIds = sse.Events.SelectMany(e => e.GetProperty("choices")[0].GetProperty("token_ids").EnumerateArray().Select(t => t.GetInt32())).ToArray();
        var choice = whole.GetProperty("choices")[0];
        Assert.Equal(choice.GetProperty("text").GetString(), streamedText);
        Assert.Equal(choice.GetProperty("token_ids").EnumerateArray().Select(t => t.GetInt32()).ToArray(), streamedIds);
    }

    [Fact]
    public async Task NonStream_HasOpenAiShapeWithTokenIdsAndUsage()
    {
        await using var w = await TestWorker.StartAsync();

        var r = await w.PostJsonAsync("/v1/completions", $$"""{"model":"test-model","prompt":{{Ids(16)}},"max_tokens":6}""");

        Assert.StartsWith("cmpl-", r.GetProperty("id").GetString());
        Assert.Equal("text_completion", r.GetProperty("object").GetString());
        Assert.Equal("test-model", r.GetProperty("model").GetString());
        var choice = Assert.Single(r.GetProperty("choices").EnumerateArray());
        Assert.Equal(0, choice.GetProperty("index").GetInt32());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        var ids = choice.GetProperty("token_ids").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        Assert.Equal(6, ids.Length);
        Assert.Equal(TestModel.LoadCard().Tokenizer.Decode(ids), choice.GetProperty("text").GetString());
        var usage = r.GetProperty("usage");
        Assert.Equal(16, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(6, usage.GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task TextPrompt_IsTokenizedWithTheModelsTokenizer()
    {
        await using var w = await TestWorker.StartAsync();
        const string Prompt = "Hello, world! This is a test.";
        var expected = TestModel.LoadCard().Tokenizer.EncodeToIds(Prompt).Count;

        var r = await w.PostJsonAsync("/v1/completions", $$"""{"model":"test-model","prompt":"{{Prompt}}","max_tokens":1}""");

        Assert.Equal(expected, r.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task RepeatedPrompt_ReportsCachedTokens()
    {
        await using var w = await TestWorker.StartAsync();
        var body = $$"""{"model":"test-model","prompt":{{Ids(100)}},"max_tokens":2,"stream":true,"stream_options":{"include_usage":true} }""";

        var first = await w.PostStreamAsync("/v1/completions", body);
        var second = await w.PostStreamAsync("/v1/completions", body);

        static int Cached(SseResult r) => r.Events[^1].GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.Equal(0, Cached(first));
        var cached = Cached(second);
        Assert.InRange(cached, 96 - 16, 100); // whole 16-token blocks of the 100-token prompt
    }

    [Fact]
    public async Task TwoPromptsTimesN2_GiveFourChoicesWithOpenAiIndexes()
    {
        await using var w = await TestWorker.StartAsync();

        var sse = await w.PostStreamAsync("/v1/completions",
            $$"""{"model":"test-model","prompt":[{{Ids(10, 100)}},{{Ids(30, 5000)}}],"n":2,"max_tokens":4,"seed":11,"stream":true,"stream_options":{"include_usage":true} }""");

        var byIndex = sse.Events.Take(sse.Events.Count - 1)
            .Select(e => Assert.Single(e.GetProperty("choices").EnumerateArray()))
            .GroupBy(c => c.GetProperty("index").GetInt32())
            .ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal([0, 1, 2, 3], byIndex.Keys.Order());
        foreach (var (_, chunks) in byIndex)
        {
            Assert.Equal(4, chunks.Count);
            Assert.Equal("length", chunks[^1].GetProperty("finish_reason").GetString());
            Assert.All(chunks.Take(3), c => Assert.Equal(JsonValueKind.Null, c.GetProperty("finish_reason").ValueKind));
        }

        int[] Tokens(int index) => byIndex[index].Select(c => c.GetProperty("token_ids")[0].GetInt32()).ToArray();
        Assert.NotEqual(Tokens(0), Tokens(1)); // seed + i: the two samples of a prompt differ
        var usage = sse.Events[^1].GetProperty("usage");
        Assert.Equal(40, usage.GetProperty("prompt_tokens").GetInt32()); // each prompt once, not n times
        Assert.Equal(16, usage.GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task NonStream_TwoPromptsTimesN2_ChoicesInIndexOrder()
    {
        await using var w = await TestWorker.StartAsync();

        var r = await w.PostJsonAsync("/v1/completions", $$"""{"model":"test-model","prompt":["Hello","Goodbye"],"n":2,"max_tokens":3}""");

        var choices = r.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2, 3], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.All(choices, c => Assert.Equal(3, c.GetProperty("token_ids").GetArrayLength()));
        Assert.Equal(12, r.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task SameSeed_GivesSameTokens()
    {
        await using var w = await TestWorker.StartAsync();
        var body = $$"""{"model":"test-model","prompt":{{Ids(12)}},"max_tokens":8,"seed":1234,"temperature":0.8}""";

        var a = await w.PostJsonAsync("/v1/completions", body);
        var b = await w.PostJsonAsync("/v1/completions", body);

        Assert.Equal(a.GetProperty("choices")[0].GetProperty("token_ids").GetRawText(), b.GetProperty("choices")[0].GetProperty("token_ids").GetRawText());
    }

    [Fact]
    public async Task StopString_SpanningTokens_EndsTheChoiceWithStop()
    {
        await using var w = await TestWorker.StartAsync();
        const string Body = """{"model":"test-model","prompt":"The quick brown fox","max_tokens":60,"seed":3,"stream":true STOP}""";
        var free = await w.PostStreamAsync("/v1/completions", Body.Replace("STOP", ""));
        var texts = free.Events.Select(e => e.GetProperty("choices")[0].GetProperty("text").GetString()!).ToList();
        var full = string.Concat(texts);

        // A stop string made of the end of one token's text and the start of the next one's.
        var k = Enumerable.Range(5, texts.Count - 6).First(i => texts[i].Length >= 2 && texts[i + 1].Length >= 2);
        var stop = texts[k][^2..] + texts[k + 1][..2];
        var expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];

        var stopped = await w.PostStreamAsync("/v1/completions", Body.Replace("STOP", ",\"stop\":" + JsonSerializer.Serialize(stop)));

        var stoppedText = string.Concat(stopped.Events.Select(e => e.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.Equal(expected, stoppedText);
        Assert.Equal("stop", stopped.Events[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.True(stopped.Events.Count < free.Events.Count, "generation must end at the stop string");
        Assert.True(stopped.Done);
        await Wait.UntilAsync(() => w.Engine.GetLoad().RunningRequests == 0, "the stopped sequence to leave the engine");
    }

    [Fact]
    public async Task StopString_NonStream_IsNotInTheText()
    {
        await using var w = await TestWorker.StartAsync();
        var free = await w.PostJsonAsync("/v1/completions", """{"model":"test-model","prompt":"abc","max_tokens":40,"seed":5}""");
        var full = free.GetProperty("choices")[0].GetProperty("text").GetString()!;
        var stop = full.Substring(full.Length / 2, 3);

        var r = await w.PostJsonAsync("/v1/completions", $$"""{"model":"test-model","prompt":"abc","max_tokens":40,"seed":5,"stop":[{{JsonSerializer.Serialize(stop)}}]}""");

        var choice = r.GetProperty("choices")[0];
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task NoMaxTokens_GeneratesUpToTheContext()
    {
        await using var w = await TestWorker.StartAsync();

        var r = await w.PostJsonAsync("/v1/completions", $$"""{"model":"test-model","prompt":{{Ids(2040)}}}""");

        Assert.Equal(8, r.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", r.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task RequestIdHeader_PrefixesTheResponseId()
    {
        await using var w = await TestWorker.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent("""{"model":"test-model","prompt":[1,2,3],"max_tokens":1}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-request-id", "gw-42");

        using var response = await w.Client.SendAsync(request);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal("cmpl-gw-42", body.GetProperty("id").GetString());
        Assert.Equal("gw-42", response.Headers.GetValues("x-request-id").Single());
    }

    [Fact]
    public async Task ManyConcurrentRequests_AllSucceed()
    {
        await using var w = await TestWorker.StartAsync();

        var tasks = Enumerable.Range(0, 64).Select(i => w.PostStreamAsync("/v1/completions",
            $$"""{"model":"test-model","prompt":{{Ids(8, i * 10)}},"max_tokens":1,"stream":true,"stream_options":{"include_usage":true} }"""));
        var results = await Task.WhenAll(tasks);

        Assert.All(results, r => Assert.True(r.Done));
        Assert.All(results, r => Assert.Equal(2, r.Events.Count));
    }
}
