using System.Net;
using System.Text.Json.Nodes;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary><c>/v1/completions</c> over real sockets: shapes, streams, batches, stop strings, usage.</summary>
public sealed class CompletionsTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private readonly TestCluster _cluster = fixture.Cluster;

    [Fact]
    public async Task TokenIdPrompt_ReturnsTextCompletion()
    {
        using var response = await Json.PostAsync(_cluster.Client, "v1/completions", new { model = _cluster.Model, prompt = new[] { 464, 3139, 286, 4881, 318 }, max_tokens = 5, temperature = 0 });
        var body = await Json.ReadAsync(response);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text_completion", body["object"]!.GetValue<string>());
        Assert.StartsWith("cmpl-", body["id"]!.GetValue<string>());
        Assert.Equal(_cluster.Model, body["model"]!.GetValue<string>());
        Assert.True(body["created"]!.GetValue<long>() > 1_700_000_000);
        var choice = body["choices"]![0]!;
        Assert.Equal(0, choice["index"]!.GetValue<int>());
        Assert.Equal("length", choice["finish_reason"]!.GetValue<string>());
        Assert.Null(choice["token_ids"]);
        Assert.Equal(5, body["usage"]!["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(5, body["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(10, body["usage"]!["total_tokens"]!.GetValue<int>());
        Assert.NotNull(body["usage"]!["prompt_tokens_details"]!["cached_tokens"]);
    }

    [Fact]
    public async Task Stream_EndsWithDone_AndUsageWhenAsked()
    {
        using var response = await Json.PostAsync(_cluster.Client, "v1/completions", new
        {
            model = _cluster.Model,
            prompt = "Once upon a time",
            max_tokens = 7,
            temperature = 0,
            stream = true,
            stream_options = new { include_usage = true },
        });
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = await Json.ReadEventsAsync(response);

        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
        var usage = chunks[^1];
        Assert.Empty(usage["choices"]!.AsArray());
        Assert.Equal(7, usage["usage"]!["completion_tokens"]!.GetValue<int>());
        var tokenChunks = chunks[..^1];
        Assert.All(tokenChunks, c => Assert.Equal("text_completion", c["object"]!.GetValue<string>()));
        Assert.Single(tokenChunks.Select(c => c["id"]!.GetValue<string>()).Distinct());
        Assert.Equal("length", tokenChunks[^1]["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.All(tokenChunks[..^1], c => Assert.Null(c["choices"]![0]!["finish_reason"]));
    }

    [Fact]
    public async Task Stream_WithoutIncludeUsage_HasNoUsageChunk()
    {
        using var response = await Json.PostAsync(_cluster.Client, "v1/completions", new { model = _cluster.Model, prompt = "Hi", max_tokens = 3, stream = true });
        var events = await Json.ReadEventsAsync(response);

        Assert.Equal("[DONE]", events[^1]);
        Assert.All(events[..^1], e => Assert.NotEmpty(JsonNode.Parse(e)!["choices"]!.AsArray()));
    }

    [Fact]
    public async Task TwoPrompts_TimesN2_GiveFourIndexedChoices()
    {
        using var response = await Json.PostAsync(_cluster.Client, "v1/completions", new { model = _cluster.Model, prompt = new[] { "alpha", "beta gamma" }, n = 2, max_tokens = 3, temperature = 0.8, seed = 5 });
        var body = await Json.ReadAsync(response);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var indexes = body["choices"]!.AsArray().Select(c => c!["index"]!.GetValue<int>()).Order().ToArray();
        Assert.Equal([0, 1, 2, 3], indexes);
        Assert.Equal(12, body["usage"]!["completion_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task StopString_AcrossTokenBoundary_CutsTextAndFinishesWithStop()
    {
        var request = new { model = _cluster.Model, prompt = "The quick brown fox", max_tokens = 24, temperature = 0 };
        using var full = await Json.PostAsync(_cluster.Client, "v1/completions", request);
        var text = (await Json.ReadAsync(full))["choices"]![0]!["text"]!.GetValue<string>();
        Assert.True(text.Length > 12, $"need a longer greedy text, got '{text}'");
        var stop = text.Substring(6, 5);

        using var stopped = await Json.PostAsync(_cluster.Client, "v1/completions", new { request.model, request.prompt, request.max_tokens, request.temperature, stop = new[] { stop } });
        var choice = (await Json.ReadAsync(stopped))["choices"]![0]!;

        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], choice["text"]!.GetValue<string>());
        Assert.Equal("stop", choice["finish_reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task RepeatedPrompt_ReportsCachedTokens()
    {
        var prompt = Enumerable.Range(1000, 64).ToArray();
        var cached = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await Json.PostAsync(_cluster.Client, "v1/completions", new { model = _cluster.Model, prompt, max_tokens = 2 });
            cached.Add((await Json.ReadAsync(response))["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>());
        }

        // Three requests over two workers: at least one lands where the prompt's blocks already are.
        Assert.Equal(0, cached[0]);
        Assert.Contains(cached, c => c >= 48);
    }

    [Fact]
    public async Task Health_Live_And_Metrics()
    {
        using var done = await Json.PostAsync(_cluster.Client, "v1/completions", new { model = _cluster.Model, prompt = "metrics", max_tokens = 2, stream = true });
        await done.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, (await _cluster.Client.GetAsync("health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _cluster.Client.GetAsync("live")).StatusCode);
        var metrics = await _cluster.Client.GetStringAsync("metrics");
        Assert.Contains("dynamo_frontend_requests_total{", metrics);
        Assert.Contains("dynamo_frontend_time_to_first_token_seconds_bucket", metrics);
        Assert.Contains("dynamo_frontend_inter_token_latency_seconds_bucket", metrics);
        Assert.Contains("dynamo_frontend_input_sequence_tokens", metrics);
        Assert.Contains("dynamo_frontend_output_sequence_tokens", metrics);
        Assert.Contains("dynamo_frontend_inflight_requests", metrics);
    }
}
