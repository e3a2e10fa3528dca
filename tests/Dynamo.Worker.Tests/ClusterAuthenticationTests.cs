using System.Net;
using System.Text;
using System.Text.Json;
using Dynamo.Runtime.Security;
using Dynamo.Worker.Tests.Infrastructure;

namespace Dynamo.Worker.Tests;

/// <summary>
/// Issue 12, finding 1: a worker's port takes requests only from its deployment's frontends. Straight requests over a
/// real socket, without the cluster credential, with one made from another secret, for another path or too old,
/// are refused with 401 in OpenAI's shape before anything reaches the engine.
/// </summary>
public sealed class ClusterAuthenticationTests
{
    private const string RemoteDecode = """{"model":"test-model","prompt":[464,3139,286,4881,318,6342,13,383,3139,286,4881,318,6342,13,383,464,3139],"max_tokens":1,"kv_transfer_params":{"do_remote_decode":true}}""";

    [Fact]
    public async Task DirectRequest_WithoutCredential_Is401_AndTheEngineHandsOutNoKv()
    {
        await using var worker = await TestWorker.StartAsync();
        using var plain = new HttpClient { BaseAddress = worker.Host.Address };

        using var response = await plain.PostAsync("v1/completions", Json(RemoteDecode));

        var error = await AssertRefusedAsync(response, "cluster_credential_missing");
        Assert.Contains(ClusterSecret.HttpHeader, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, worker.Engine.PinnedTransfers);
        var metrics = await plain.GetStringAsync("metrics");
        Assert.Equal("1", Unauthenticated(metrics, "missing"));
        Assert.DoesNotContain("dynamo_component_requests_total{", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DirectRequest_WithTheClusterCredential_IsServed()
    {
        await using var worker = await TestWorker.StartAsync();

        using var response = await worker.PostAsync("/v1/completions", RemoteDecode);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, worker.Engine.PinnedTransfers);
    }

    [Fact]
    public async Task DirectRequest_WithACredentialOfAnotherSecret_Is401()
    {
        await using var worker = await TestWorker.StartAsync();
        using var stranger = new HttpClient(new ClusterCredentialHandler(ClusterSecret.Generate(), new SocketsHttpHandler())) { BaseAddress = worker.Host.Address };

        using var response = await stranger.PostAsync("v1/completions", Json(RemoteDecode));

        await AssertRefusedAsync(response, "cluster_credential_invalid");
        Assert.Equal(0, worker.Engine.PinnedTransfers);
    }

    [Theory]
    [InlineData("/health", 0, "cluster_credential_invalid")]
    [InlineData("/v1/completions", -400, "cluster_credential_expired")]
    [InlineData("/v1/completions", 400, "cluster_credential_expired")]
    public async Task DirectRequest_WithACredentialForAnotherPathOrTime_Is401(string signedPath, int secondsOff, string code)
    {
        await using var worker = await TestWorker.StartAsync();
        using var plain = new HttpClient { BaseAddress = worker.Host.Address };
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json(RemoteDecode) };
        request.Headers.Add(ClusterSecret.HttpHeader, TestWorker.Secret.CreateHttpCredential("POST", signedPath, DateTimeOffset.UtcNow.AddSeconds(secondsOff)));

        using var response = await plain.SendAsync(request);

        await AssertRefusedAsync(response, code);
        Assert.Equal(0, worker.Engine.PinnedTransfers);
    }

    [Theory]
    [InlineData("v1.1.!!!!")]
    [InlineData("v1.99999999999999999999.AAAA")]
    [InlineData("v2.1.AAAA")]
    [InlineData("Bearer sk-123")]
    public async Task MalformedCredential_Is401_Not500(string credential)
    {
        await using var worker = await TestWorker.StartAsync();
        using var plain = new HttpClient { BaseAddress = worker.Host.Address };
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json(RemoteDecode) };
        request.Headers.TryAddWithoutValidation(ClusterSecret.HttpHeader, credential);

        using var response = await plain.SendAsync(request);

        await AssertRefusedAsync(response, "cluster_credential_invalid");
    }

    [Theory]
    [InlineData("GET", "v1/kv/dump")]
    [InlineData("GET", "v1/kv/events?from=1")]
    [InlineData("GET", "v1/models")]
    [InlineData("GET", "load")]
    [InlineData("GET", "health/")]
    [InlineData("GET", "metrics/.")]
    [InlineData("POST", "health")]
    [InlineData("POST", "v1/chat/completions")]
    public async Task EverythingButProbesAndMetrics_NeedsTheCredential(string method, string path)
    {
        await using var worker = await TestWorker.StartAsync();
        using var plain = new HttpClient { BaseAddress = worker.Host.Address };

        using var response = await plain.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? Json("{}") : null });

        await AssertRefusedAsync(response, "cluster_credential_missing");
        using var signed = await worker.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? Json("{}") : null });
        Assert.NotEqual(HttpStatusCode.Unauthorized, signed.StatusCode);
    }

    [Theory]
    [InlineData("live")]
    [InlineData("health")]
    [InlineData("metrics")]
    public async Task ProbesAndMetrics_StayOpen(string path)
    {
        await using var worker = await TestWorker.StartAsync();
        using var plain = new HttpClient { BaseAddress = worker.Host.Address };

        using var response = await plain.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task RepeatedRefusals_AreLoggedOnceAMinutePerSource()
    {
        await using var worker = await TestWorker.StartAsync();
        using var plain = new HttpClient { BaseAddress = worker.Host.Address };

        for (var i = 0; i < 20; i++)
        {
            using var response = await plain.PostAsync("v1/completions", Json(RemoteDecode));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var lines = worker.Log.Entries.Where(e => e.Contains("cluster credential missing", StringComparison.Ordinal)).ToList();
        Assert.Single(lines);
        Assert.Contains("from 127.0.0.1", lines[0], StringComparison.Ordinal);
        Assert.Equal("20", Unauthenticated(await plain.GetStringAsync("metrics"), "missing"));
    }

    private static string? Unauthenticated(string metrics, string reason) =>
        System.Text.RegularExpressions.Regex.Match(
            metrics, $"^dynamo_component_unauthenticated_requests_total\\{{[^}}]*reason=\"{reason}\"[^}}]*\\}} (\\S+)$", System.Text.RegularExpressions.RegexOptions.Multiline)
        is { Success: true } match ? match.Groups[1].Value : null;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> AssertRefusedAsync(HttpResponseMessage response, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error").Clone();
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.True(error.TryGetProperty("param", out _));
        return error;
    }
}
