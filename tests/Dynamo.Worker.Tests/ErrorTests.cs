using System.Net;
using System.Text;
using System.Text.Json;
using Dynamo.Worker.Tests.Infrastructure;

namespace Dynamo.Worker.Tests;

public sealed class ErrorTests
{
    private static async Task<(HttpStatusCode Status, JsonElement Error)> ErrorOf(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error").Clone();
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _));
        Assert.True(error.TryGetProperty("code", out _));
        return (response.StatusCode, error);
    }

    [Theory]
    [InlineData("/v1/completions", "{not json", null)]
    [InlineData("/v1/completions", "", null)]
    [InlineData("/v1/completions", """{"model":"test-model","prompt":[1,2],"max_tokens":-1}""", "max_tokens")]
    [InlineData("/v1/completions", """{"model":"test-model","prompt":[50257]}""", "prompt[0]")]
    [InlineData("/v1/completions", """{"model":"test-model"}""", "prompt")]
    [InlineData("/v1/chat/completions", """{"model":"test-model","messages":[]}""", "messages")]
    [InlineData("/v1/chat/completions", """{"model":"test-model","messages":[{"role":"user","content":[{"type":"image_url"}]}]}""", "messages[0].content[0].type")]
    public async Task BadRequest_Is400InOpenAiShape(string path, string body, string? param)
    {
        await using var w = await TestWorker.StartAsync();

        using var response = await w.PostAsync(path, body);
        var (status, error) = await ErrorOf(response);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task InvalidUtf8Body_Is400()
    {
        await using var w = await TestWorker.StartAsync();
        var content = new ByteArrayContent([.. """{"model":"test-model","prompt":" """u8, 0xFF, .. "\"}"u8]);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        using var response = await w.Client.PostAsync("/v1/completions", content);

        Assert.Equal(HttpStatusCode.BadRequest, (await ErrorOf(response)).Status);
    }

    [Fact]
    public async Task PromptPlusMaxTokensOverContext_Is400NamingTheLengths()
    {
        await using var w = await TestWorker.StartAsync();

        using var response = await w.PostAsync("/v1/completions", $$"""{"model":"test-model","prompt":{{CompletionsTests.Ids(2000)}},"max_tokens":100}""");
        var (status, error) = await ErrorOf(response);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("max_tokens", error.GetProperty("param").GetString());
        var message = error.GetProperty("message").GetString()!;
        Assert.Contains("2048", message);
        Assert.Contains("2100", message);
        Assert.Contains("2000", message);
    }

    [Fact]
    public async Task PromptFillingTheContext_Is400OnPrompt()
    {
        await using var w = await TestWorker.StartAsync();

        using var response = await w.PostAsync("/v1/completions", $$"""{"model":"test-model","prompt":{{CompletionsTests.Ids(2048)}}}""");
        var (status, error) = await ErrorOf(response);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("prompt", error.GetProperty("param").GetString());
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task UnknownModel_Is404()
    {
        await using var w = await TestWorker.StartAsync();

        using var response = await w.PostAsync("/v1/completions", """{"model":"gpt-9","prompt":"x"}""");
        var (status, error) = await ErrorOf(response);

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("model", error.GetProperty("param").GetString());
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task UnknownPath_Is404InOpenAiShape()
    {
        await using var w = await TestWorker.StartAsync();

        using var response = await w.Client.GetAsync("/v1/nothing");

        Assert.Equal(HttpStatusCode.NotFound, (await ErrorOf(response)).Status);
    }

    [Fact]
    public async Task BodyOverTheLimit_Is413()
    {
        await using var w = await TestWorker.StartAsync(configureWorker: o => o.RequestLimits = o.RequestLimits with { MaxBodyBytes = 1024 });
        var big = $$"""{"model":"test-model","prompt":"{{new string('a', 4096)}}"}""";

        using var response = await w.PostAsync("/v1/completions", big);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await ErrorOf(response)).Status);

        // Chunked, so Kestrel cannot reject it from Content-Length alone.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        using var chunkedResponse = await w.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await ErrorOf(chunkedResponse)).Status);
    }

    [Fact]
    public async Task MegabyteOfLetters_ByDefault_Is400NamingTheLimitWithoutEchoingThePrompt()
    {
        await using var w = await TestWorker.StartAsync();
        var letters = string.Concat(Enumerable.Repeat("abcdefghijklmnopqrstuvwxyz", 1024 * 1024 / 26 + 1));

        foreach (var (path, body) in new[]
        {
            ("/v1/completions", $$"""{"model":"test-model","prompt":"{{letters}}","max_tokens":1}"""),
            ("/v1/chat/completions", $$"""{"model":"test-model","messages":[{"role":"user","content":"{{letters}}"}],"max_tokens":1}"""),
        })
        {
            using var response = await w.PostAsync(path, body);
            var text = await response.Content.ReadAsStringAsync();
            var (status, error) = await ErrorOf(response);

            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal("prompt_too_long", error.GetProperty("code").GetString());
            Assert.Contains("Dynamo:Worker:RequestLimits:MaxPromptChars", error.GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.DoesNotContain("abcdefghijklmnopqrstuvwxyzabc", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task PromptCharsOverARaisedOrLoweredLimit_FollowTheSetting()
    {
        await using var w = await TestWorker.StartAsync(configureWorker: o => o.RequestLimits = o.RequestLimits with { MaxPromptChars = 10 });

        using var over = await w.PostAsync("/v1/completions", """{"model":"test-model","prompt":["hello","world!"],"max_tokens":1}""");
        var (status, error) = await ErrorOf(over);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("11 characters", error.GetProperty("message").GetString(), StringComparison.Ordinal);

        var within = await w.PostJsonAsync("/v1/completions", """{"model":"test-model","prompt":"hello","max_tokens":1}""");
        Assert.Single(within.GetProperty("choices").EnumerateArray());
    }

    [Fact]
    public async Task TenMegabyteBody_Is413AndTheWorkerKeepsServing()
    {
        await using var w = await TestWorker.StartAsync();
        var huge = "{\"model\":\"test-model\",\"prompt\":\"" + new string('a', 10 * 1024 * 1024) + "\"}";

        using var response = await w.PostAsync("/v1/completions", huge);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await ErrorOf(response)).Status);
        var ok = await w.PostJsonAsync("/v1/completions", """{"model":"test-model","prompt":[1],"max_tokens":1}""");
        Assert.Single(ok.GetProperty("choices").EnumerateArray());
    }

    [Fact]
    public async Task AfterBadRequests_GoodRequestsStillWork()
    {
        await using var w = await TestWorker.StartAsync();
        for (var i = 0; i < 5; i++)
        {
            using var bad = await w.PostAsync("/v1/completions", "{\"model\":");
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }

        var ok = await w.PostJsonAsync("/v1/completions", """{"model":"test-model","prompt":[1],"max_tokens":1}""");
        Assert.Single(ok.GetProperty("choices").EnumerateArray());
        Assert.Equal(0, w.Host.InflightRequests);
    }
}
