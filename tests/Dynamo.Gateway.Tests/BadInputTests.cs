using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// Malformed and hostile requests each get the right 4xx in OpenAI's error shape, while good requests running
/// at the same time all succeed.
/// </summary>
public sealed class BadInputTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private const string Chat = "v1/chat/completions";
    private const string Completions = "v1/completions";
    private readonly TestCluster _cluster = fixture.Cluster;

    public static TheoryData<string, string, string, int, string?> Cases()
    {
        const string M = "\"model\":\"tiny\"";
        const string Msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        var data = new TheoryData<string, string, string, int, string?>
        {
            { "invalid json", Chat, "{", 400, null },
            { "empty body", Chat, "", 400, null },
            { "array body", Chat, "[]", 400, null },
            { "model missing", Chat, "{" + Msgs + "}", 400, "model" },
            { "model is a number", Chat, "{\"model\":42," + Msgs + "}", 400, "model" },
            { "model null", Chat, "{\"model\":null," + Msgs + "}", 400, "model" },
            { "unknown model", Chat, "{\"model\":\"gpt-17\"," + Msgs + "}", 404, "model" },
            { "messages missing", Chat, "{" + M + "}", 400, "messages" },
            { "messages empty", Chat, "{" + M + ",\"messages\":[]}", 400, "messages" },
            { "messages is a string", Chat, "{" + M + ",\"messages\":\"hi\"}", 400, "messages" },
            { "role missing", Chat, "{" + M + ",\"messages\":[{\"content\":\"hi\"}]}", 400, null },
            { "role unknown", Chat, "{" + M + ",\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", 400, null },
            { "content is a number", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":7}]}", 400, null },
            { "image part", Chat, "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}", 400, null },
            { "max_tokens negative", Chat, "{" + M + "," + Msgs + ",\"max_tokens\":-1}", 400, "max_tokens" },
            { "max_tokens string", Chat, "{" + M + "," + Msgs + ",\"max_tokens\":\"ten\"}", 400, "max_tokens" },
            { "max_tokens 1e400", Chat, "{" + M + "," + Msgs + ",\"max_tokens\":1e400}", 400, "max_tokens" },
            { "max_tokens 2^70", Chat, "{" + M + "," + Msgs + ",\"max_tokens\":1180591620717411303424}", 400, "max_tokens" },
            { "max_completion_tokens zero", Chat, "{" + M + "," + Msgs + ",\"max_completion_tokens\":0}", 400, "max_completion_tokens" },
            { "temperature too high", Chat, "{" + M + "," + Msgs + ",\"temperature\":5}", 400, "temperature" },
            { "temperature string", Chat, "{" + M + "," + Msgs + ",\"temperature\":\"hot\"}", 400, "temperature" },
            { "top_p zero", Chat, "{" + M + "," + Msgs + ",\"top_p\":0}", 400, "top_p" },
            { "top_p above one", Chat, "{" + M + "," + Msgs + ",\"top_p\":1.5}", 400, "top_p" },
            { "top_k string", Chat, "{" + M + "," + Msgs + ",\"top_k\":\"x\"}", 400, "top_k" },
            { "n zero", Chat, "{" + M + "," + Msgs + ",\"n\":0}", 400, "n" },
            { "n huge", Chat, "{" + M + "," + Msgs + ",\"n\":100000}", 400, "n" },
            { "five stop strings", Chat, "{" + M + "," + Msgs + ",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop" },
            { "stop is a number", Chat, "{" + M + "," + Msgs + ",\"stop\":3}", 400, "stop" },
            { "stream string", Chat, "{" + M + "," + Msgs + ",\"stream\":\"yes\"}", 400, "stream" },
            { "stream_options without stream", Chat, "{" + M + "," + Msgs + ",\"stream_options\":{\"include_usage\":true}}", 400, "stream_options" },
            { "presence_penalty too high", Chat, "{" + M + "," + Msgs + ",\"presence_penalty\":3}", 400, "presence_penalty" },
            { "frequency_penalty too low", Chat, "{" + M + "," + Msgs + ",\"frequency_penalty\":-3}", 400, "frequency_penalty" },
            { "seed string", Chat, "{" + M + "," + Msgs + ",\"seed\":\"abc\"}", 400, "seed" },
            { "user number", Chat, "{" + M + "," + Msgs + ",\"user\":5}", 400, "user" },
            { "ignore_eos string", Chat, "{" + M + "," + Msgs + ",\"ignore_eos\":\"no\"}", 400, "ignore_eos" },
            { "forced call of a tool whose parameters cannot be enforced", Chat, "{" + M + "," + Msgs + ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\",\"pattern\":\"a\"}}}}}],\"tool_choice\":\"required\"}", 400, "tools" },
            { "legacy functions", Chat, "{" + M + "," + Msgs + ",\"functions\":[{\"name\":\"f\"}]}", 400, "functions" },
            { "tool_choice required without tools", Chat, "{" + M + "," + Msgs + ",\"tool_choice\":\"required\"}", 400, "tool_choice" },
            { "response_format json_schema", Chat, "{" + M + "," + Msgs + ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}}", 400, "response_format" },
            { "top_logprobs above 20", Chat, "{" + M + "," + Msgs + ",\"logprobs\":true,\"top_logprobs\":21}", 400, "top_logprobs" },
            { "prompt_logprobs from a client", Completions, "{" + M + ",\"prompt\":\"x\",\"prompt_logprobs\":1}", 400, "prompt_logprobs" },
            { "deep nesting", Chat, "{" + M + ",\"messages\":" + new string('[', 10_000) + new string(']', 10_000) + "}", 400, null },
            { "prompt missing", Completions, "{" + M + "}", 400, "prompt" },
            { "prompt empty string", Completions, "{" + M + ",\"prompt\":\"\"}", 400, "prompt" },
            { "negative token id", Completions, "{" + M + ",\"prompt\":[-1]}", 400, "prompt[0]" },
            { "token id beyond vocabulary", Completions, "{" + M + ",\"prompt\":[99999999]}", 400, "prompt" },
            { "prompt of mixed types", Completions, "{" + M + ",\"prompt\":[[1],\"a\"]}", 400, "prompt[1]" },
            { "prompt longer than context", Completions, "{" + M + ",\"prompt\":[" + string.Join(',', Enumerable.Repeat(11, 5000)) + "]}", 400, "prompt" },
            { "max_tokens beyond context", Completions, "{" + M + ",\"prompt\":[1,2,3],\"max_tokens\":1000000}", 400, "max_tokens" },
        };
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task BadRequest_GetsOpenAiError(string name, string path, string body, int status, string? param)
    {
        using var response = await _cluster.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.True(status == (int)response.StatusCode, $"{name}: expected {status}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Json.AssertOpenAiError(await Json.ReadAsync(response), param);
    }

    [Fact]
    public async Task InvalidUtf8_Is400()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"model\":\"tiny\",\"prompt\":\"ab\"}");
        bytes[^4] = 0xC3;
        bytes[^3] = 0x28;
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await _cluster.Client.PostAsync(Completions, content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Json.AssertOpenAiError(await Json.ReadAsync(response));
    }

    [Fact]
    public async Task FiftyMegabyteBody_Is413()
    {
        var huge = "{\"model\":\"tiny\",\"prompt\":\"" + new string('a', 50 * 1024 * 1024) + "\"}";

        using var response = await _cluster.Client.PostAsync(Completions, new StringContent(huge, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Json.AssertOpenAiError(await Json.ReadAsync(response));
    }

    [Fact]
    public async Task UnknownPath_Is404InOpenAiShape()
    {
        using var response = await _cluster.Client.GetAsync("v1/engines");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Json.AssertOpenAiError(await Json.ReadAsync(response));
    }

    [Fact]
    public async Task BadRequests_DoNotDisturbConcurrentGoodOnes()
    {
        var good = Enumerable.Range(0, 16).Select(async i =>
        {
            using var response = await Json.PostAsync(_cluster.Client, Completions, new { model = _cluster.Model, prompt = $"good request {i}", max_tokens = 8, stream = true });
            var events = await Json.ReadEventsAsync(response);
            return (response.StatusCode, events);
        }).ToList();
        var bad = Cases().Select(async row =>
        {
            var (path, body) = ((string)row[1], (string)row[2]);
            using var response = await _cluster.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
            return (int)response.StatusCode;
        }).ToList();

        var goodResults = await Task.WhenAll(good);
        var badResults = await Task.WhenAll(bad);

        Assert.All(goodResults, r =>
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("[DONE]", r.events[^1]);
            Assert.Equal(8, r.events.Count(e => e != "[DONE]" && JsonNode.Parse(e)!["choices"]!.AsArray().Count > 0));
        });
        Assert.All(badResults, status => Assert.InRange(status, 400, 499));
    }
}
