using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// <c>logprobs</c>, <c>top_logprobs</c> and <c>echo</c> (with the prompt's own log-probabilities) end to end on the real engine: numbers computed by the engine,
/// carried by the worker contract as token ids, and written by the gateway in OpenAI's chat and completions shapes,
/// streamed or whole, aggregated or disaggregated; the mocker's honest flat numbers; and the refusals.
/// </summary>
[Collection(CpuHeavyCollection.Name)]
public sealed class LogprobsTests
{
    private static Dictionary<string, string?> Dotnet(string mode = "agg") => new()
    {
        ["Dynamo:Serve:Engine"] = "dotnet",
        ["Dynamo:Serve:Mode"] = mode,
        ["Dynamo:Serve:Workers"] = mode == "agg" ? "1" : null,
        ["Dynamo:Serve:PrefillWorkers"] = "1",
        ["Dynamo:Serve:DecodeWorkers"] = "1",
        ["Dynamo:Engine:NumKvBlocks"] = "512",
        ["Dynamo:Gateway:Disaggregation:MinRemotePrefillTokens"] = "8",
        ["Dynamo:Gateway:Disaggregation:MinUncachedFraction"] = "0",
    };

    private static int[] Prompt(int length, int salt) =>
        [.. Enumerable.Range(0, length).Select(i => 1 + ((i * 7919) + (salt * 104729)) % 50000)];

    [Fact]
    public async Task Chat_WholeAndStreamed_ReportEveryTokenWithItsTopAlternatives()
    {
        await using var cluster = await TestCluster.StartAsync(Dotnet());
        var request = new
        {
            model = cluster.Model,
            messages = new[] { new { role = "user", content = "Tell me about log probabilities" } },
            max_tokens = 8,
            temperature = 0,
            ignore_eos = true,
            logprobs = true,
            top_logprobs = 3,
        };

        using var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", request);
        var body = await Json.ReadAsync(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var content = body["choices"]![0]!["logprobs"]!["content"]!.AsArray();
        Assert.Equal(8, content.Count);
        foreach (var entry in content)
        {
            var token = entry!["token"]!.GetValue<string>();
            var logprob = entry["logprob"]!.GetValue<double>();
            var top = entry["top_logprobs"]!.AsArray();
            Assert.True(logprob <= 0);
            Assert.Equal(3, top.Count);

            // Greedy: the chosen token is the most likely one, and the list is in order.
            Assert.Equal(token, top[0]!["token"]!.GetValue<string>());
            Assert.Equal(logprob, top[0]!["logprob"]!.GetValue<double>());
            Assert.True(top[1]!["logprob"]!.GetValue<double>() <= top[0]!["logprob"]!.GetValue<double>());
            var bytes = entry["bytes"]!.AsArray().Select(b => (byte)b!.GetValue<int>()).ToArray();
            Assert.NotEmpty(bytes);
            Assert.Equal(token, Encoding.UTF8.GetString(bytes));
        }

        // The message's text is the tokens' texts (no split characters in this prompt's answer is not assumed: compare bytes).
        var message = body["choices"]![0]!["message"]!["content"]!.GetValue<string>();
        var allBytes = content.SelectMany(e => e!["bytes"]!.AsArray().Select(b => (byte)b!.GetValue<int>())).ToArray();
        Assert.Equal(message, Encoding.UTF8.GetString(allBytes));

        using var streamed = await Json.PostAsync(cluster.Client, "v1/chat/completions", new
        {
            request.model, request.messages, request.max_tokens, request.temperature, request.ignore_eos, request.logprobs, request.top_logprobs, stream = true,
        });
        var events = await Json.ReadEventsAsync(streamed);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
        var streamedEntries = chunks
            .Select(c => c["choices"]![0]!["logprobs"])
            .Where(l => l is not null)
            .SelectMany(l => l!["content"]!.AsArray())
            .ToList();
        Assert.Equal(content.Select(e => e!["token"]!.GetValue<string>()), streamedEntries.Select(e => e!["token"]!.GetValue<string>()));
        Assert.Equal(content.Select(e => e!["logprob"]!.GetValue<double>()), streamedEntries.Select(e => e!["logprob"]!.GetValue<double>()));

        // A request without logprobs gets null, as before.
        using var plain = await Json.PostAsync(cluster.Client, "v1/chat/completions", new { request.model, request.messages, max_tokens = 2 });
        Assert.Null((await Json.ReadAsync(plain))["choices"]![0]!["logprobs"]);
    }

    [Fact]
    public async Task Completions_LogprobsAndEcho_InTheLegacyShape()
    {
        await using var cluster = await TestCluster.StartAsync(Dotnet());
        const string prompt = "Once upon a time";
        using var response = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt, max_tokens = 6, temperature = 0, ignore_eos = true, logprobs = 2 });
        var body = await Json.ReadAsync(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var choice = body["choices"]![0]!;
        var logprobs = choice["logprobs"]!;
        var tokens = logprobs["tokens"]!.AsArray().Select(t => t!.GetValue<string>()).ToList();
        var values = logprobs["token_logprobs"]!.AsArray().Select(t => t!.GetValue<double>()).ToList();
        var tops = logprobs["top_logprobs"]!.AsArray().Select(t => t!.AsObject()).ToList();
        var offsets = logprobs["text_offset"]!.AsArray().Select(t => t!.GetValue<int>()).ToList();
        Assert.Equal(6, tokens.Count);
        Assert.Equal(6, values.Count);
        Assert.Equal(6, tops.Count);
        Assert.Equal(0, offsets[0]);
        for (var i = 0; i < 6; i++)
        {
            Assert.InRange(tops[i].Count, 1, 2);
            Assert.Equal(values[i], tops[i][tokens[i]]!.GetValue<double>());
            Assert.Equal(values[i], tops[i].Max(t => t.Value!.GetValue<double>()));
            if (i > 0)
            {
                Assert.Equal(offsets[i - 1] + tokens[i - 1].Length, offsets[i]);
            }
        }

        // Streamed: the same tokens, offsets continuing across chunks.
        using var streamed = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt, max_tokens = 6, temperature = 0, ignore_eos = true, logprobs = 2, stream = true });
        var chunks = (await Json.ReadEventsAsync(streamed))[..^1].Select(e => JsonNode.Parse(e)!["choices"]![0]!).ToList();
        var streamedLogprobs = chunks.Select(c => c["logprobs"]).Where(l => l is not null).ToList();
        Assert.Equal(tokens, streamedLogprobs.SelectMany(l => l!["tokens"]!.AsArray().Select(t => t!.GetValue<string>())));
        Assert.Equal(offsets, streamedLogprobs.SelectMany(l => l!["text_offset"]!.AsArray().Select(t => t!.GetValue<int>())));

        // echo: the prompt's text first, whole and streamed (its own first chunk).
        using var echoed = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt, max_tokens = 6, temperature = 0, ignore_eos = true, echo = true });
        var echoedText = (await Json.ReadAsync(echoed))["choices"]![0]!["text"]!.GetValue<string>();
        Assert.Equal(prompt + choice["text"]!.GetValue<string>(), echoedText);
        using var echoStream = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt, max_tokens = 6, temperature = 0, ignore_eos = true, echo = true, stream = true });
        var echoChunks = (await Json.ReadEventsAsync(echoStream))[..^1].Select(e => JsonNode.Parse(e)!["choices"]![0]!["text"]!.GetValue<string>()).ToList();
        Assert.Equal(prompt, echoChunks[0]);
        Assert.Equal(echoedText, string.Concat(echoChunks));
    }

    [Fact]
    public async Task Completions_EchoWithLogprobs_LeadsWithThePromptsTokens_WholeAndStreamed()
    {
        await using var cluster = await TestCluster.StartAsync(Dotnet());
        const string prompt = "Once upon a time there was";
        var plainRequest = new { model = cluster.Model, prompt, max_tokens = 4, temperature = 0, ignore_eos = true, logprobs = 2 };
        using var plain = await Json.PostAsync(cluster.Client, "v1/completions", plainRequest);
        var plainLogprobs = (await Json.ReadAsync(plain))["choices"]![0]!["logprobs"]!;

        using var response = await Json.PostAsync(cluster.Client, "v1/completions", new { plainRequest.model, prompt, plainRequest.max_tokens, plainRequest.temperature, plainRequest.ignore_eos, plainRequest.logprobs, echo = true });
        var body = await Json.ReadAsync(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var promptTokens = body["usage"]!["prompt_tokens"]!.GetValue<int>();
        var logprobs = body["choices"]![0]!["logprobs"]!;
        var tokens = logprobs["tokens"]!.AsArray().Select(t => t!.GetValue<string>()).ToList();
        var values = logprobs["token_logprobs"]!.AsArray().ToList();
        var tops = logprobs["top_logprobs"]!.AsArray().ToList();
        var offsets = logprobs["text_offset"]!.AsArray().Select(t => t!.GetValue<int>()).ToList();
        Assert.Equal(promptTokens + 4, tokens.Count);
        Assert.Equal(tokens.Count, values.Count);
        Assert.Equal(tokens.Count, tops.Count);

        // The prompt's first token has no context; each next one its log-probability and the top 2 at its position.
        Assert.Null(values[0]);
        Assert.Null(tops[0]);
        Assert.Equal(prompt, string.Concat(tokens.Take(promptTokens)));
        for (var i = 1; i < tokens.Count; i++)
        {
            var value = values[i]!.GetValue<double>();
            var top = tops[i]!.AsObject();
            Assert.True(value <= 0);
            Assert.InRange(top.Count, 1, 2);
            Assert.True(top.Max(t => t.Value!.GetValue<double>()) >= value);
            Assert.Equal(offsets[i - 1] + tokens[i - 1].Length, offsets[i]);
        }

        // The output's part is what the request without echo reports.
        Assert.Equal(plainLogprobs["tokens"]!.AsArray().Select(t => t!.GetValue<string>()), tokens.Skip(promptTokens));
        var plainValues = plainLogprobs["token_logprobs"]!.AsArray().Select(t => t!.GetValue<double>()).ToList();
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(plainValues[i], values[promptTokens + i]!.GetValue<double>(), 1e-3);
        }

        // Streamed: the echo chunk carries the prompt's text and numbers, the rest continue them.
        using var streamed = await Json.PostAsync(cluster.Client, "v1/completions", new { plainRequest.model, prompt, plainRequest.max_tokens, plainRequest.temperature, plainRequest.ignore_eos, plainRequest.logprobs, echo = true, stream = true });
        var chunks = (await Json.ReadEventsAsync(streamed))[..^1].Select(e => JsonNode.Parse(e)!["choices"]![0]!).ToList();
        Assert.Equal(prompt, chunks[0]["text"]!.GetValue<string>());
        var echoTokens = chunks[0]["logprobs"]!["tokens"]!.AsArray().Select(t => t!.GetValue<string>());
        Assert.Equal(tokens.Take(promptTokens), echoTokens);
        Assert.Null(chunks[0]["logprobs"]!["token_logprobs"]![0]);
        var streamedLogprobs = chunks.Select(c => c["logprobs"]).Where(l => l is not null).ToList();
        Assert.Equal(tokens, streamedLogprobs.SelectMany(l => l!["tokens"]!.AsArray().Select(t => t!.GetValue<string>())));
        Assert.Equal(offsets, streamedLogprobs.SelectMany(l => l!["text_offset"]!.AsArray().Select(t => t!.GetValue<int>())));
        Assert.Equal(body["choices"]![0]!["text"]!.GetValue<string>(), string.Concat(chunks.Select(c => c["text"]!.GetValue<string>())));
    }

    [Fact]
    public async Task Disaggregated_FirstTokensLogprobsComeFromThePrefillWorker_AndMatchAggregated()
    {
        var prompt = Prompt(60, 1);
        JsonNode expected;
        await using (var agg = await TestCluster.StartAsync(Dotnet()))
        {
            expected = await CompleteAsync(agg, prompt, stream: false);
        }

        await using var disagg = await TestCluster.StartAsync(Dotnet("disagg"));
        foreach (var stream in new[] { false, true })
        {
            var actual = await CompleteAsync(disagg, prompt, stream);
            Assert.Equal(expected["tokens"]!.ToJsonString(), actual["tokens"]!.ToJsonString());
            var want = expected["token_logprobs"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            var got = actual["token_logprobs"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            Assert.Equal(want.Length, got.Length);
            for (var i = 0; i < want.Length; i++)
            {
                Assert.Equal(want[i], got[i], 1e-3);
            }
        }

        var metrics = await disagg.Client.GetStringAsync("metrics");
        Assert.Contains("dynamo_frontend_disagg_prefills_total{path=\"remote\",reason=\"\"} 2", metrics);
    }

    /// <summary>The completion's logprobs object (streamed chunks' merged).</summary>
    private static async Task<JsonNode> CompleteAsync(TestCluster cluster, int[] prompt, bool stream)
    {
        using var response = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt, max_tokens = 5, temperature = 0, ignore_eos = true, logprobs = 3, stream });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        if (!stream)
        {
            return (await Json.ReadAsync(response))["choices"]![0]!["logprobs"]!;
        }

        var merged = new JsonObject { ["tokens"] = new JsonArray(), ["token_logprobs"] = new JsonArray() };
        foreach (var e in (await Json.ReadEventsAsync(response))[..^1])
        {
            if (JsonNode.Parse(e)!["choices"]![0]!["logprobs"] is { } logprobs)
            {
                foreach (var t in logprobs["tokens"]!.AsArray())
                {
                    merged["tokens"]!.AsArray().Add(t!.DeepClone());
                }

                foreach (var v in logprobs["token_logprobs"]!.AsArray())
                {
                    merged["token_logprobs"]!.AsArray().Add(v!.DeepClone());
                }
            }
        }

        return merged;
    }

    [Fact]
    public async Task Mocker_ReportsItsFlatDistribution_AndRefusesConstrainedOutput()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", new
        {
            model = cluster.Model,
            messages = new[] { new { role = "user", content = "hi" } },
            max_tokens = 4,
            ignore_eos = true,
            logprobs = true,
            top_logprobs = 2,
        });
        var body = await Json.ReadAsync(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var content = body["choices"]![0]!["logprobs"]!["content"]!.AsArray();
        Assert.Equal(4, content.Count);

        // Every non-EOS id is equally likely: the same number everywhere, below log(1 / 2) and finite.
        var values = content.SelectMany(e => new[] { e!["logprob"]!.GetValue<double>() }.Concat(e["top_logprobs"]!.AsArray().Select(t => t!["logprob"]!.GetValue<double>()))).Distinct().ToList();
        Assert.Single(values);
        Assert.InRange(values[0], -20, Math.Log(0.5));

        // Echo with logprobs: the prompt scored by the same flat distribution.
        using var echoed = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = new[] { 5, 6, 7, 8 }, max_tokens = 2, ignore_eos = true, logprobs = 1, echo = true });
        var echoedLogprobs = (await Json.ReadAsync(echoed))["choices"]![0]!["logprobs"]!;
        var echoedValues = echoedLogprobs["token_logprobs"]!.AsArray();
        Assert.Equal(6, echoedValues.Count);
        Assert.Null(echoedValues[0]);
        Assert.All(echoedValues.Skip(1).Take(3), v => Assert.Equal(values[0], v!.GetValue<double>(), 1e-5));

        using var constrained = await Json.PostAsync(cluster.Client, "v1/chat/completions", new
        {
            model = cluster.Model,
            messages = new[] { new { role = "user", content = "hi" } },
            max_tokens = 4,
            logprobs = true,
            response_format = new { type = "json_object" },
        });
        Assert.Equal(HttpStatusCode.BadRequest, constrained.StatusCode);
        Json.AssertOpenAiError(await Json.ReadAsync(constrained), "logprobs");
    }

    [Theory]
    [InlineData("chat/completions", """{"logprobs":true,"top_logprobs":21}""", "top_logprobs")]
    [InlineData("chat/completions", """{"logprobs":true,"top_logprobs":-1}""", "top_logprobs")]
    [InlineData("chat/completions", """{"top_logprobs":2}""", "top_logprobs")]
    [InlineData("chat/completions", """{"logprobs":"yes"}""", "logprobs")]
    [InlineData("completions", """{"logprobs":6}""", "logprobs")]
    [InlineData("completions", """{"logprobs":-1}""", "logprobs")]
    [InlineData("completions", """{"prompt_logprobs":1}""", "prompt_logprobs")]
    [InlineData("chat/completions", """{"prompt_logprobs":1}""", "prompt_logprobs")]
    [InlineData("completions", """{"echo":"yes"}""", "echo")]
    public async Task OutOfRangeOrUnsupported_Is400NamingTheParameter(string endpoint, string extra, string param)
    {
        await using var cluster = await TestCluster.StartAsync();
        var start = endpoint == "completions"
            ? $$"""{"model":"{{cluster.Model}}","prompt":"hi","max_tokens":2,"""
            : $$"""{"model":"{{cluster.Model}}","messages":[{"role":"user","content":"hi"}],"max_tokens":2,""";
        using var response = await cluster.Client.PostAsync("v1/" + endpoint, new StringContent(start + extra[1..], Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Json.AssertOpenAiError(await Json.ReadAsync(response), param);
    }
}
