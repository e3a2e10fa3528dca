using System.Net;
using System.Net.Http.Headers;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>R6: API keys, per-key limits, and the admin port kept apart from the public one.</summary>
public sealed class AccessControlTests
{
    private const string GoodKey = "sk-dynamo-test-0123456789";
    private const string LimitedKey = "sk-dynamo-limited-0123456789";

    [Fact]
    public async Task Keys_MissingWrongAndOverRate_Get401_401_429()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:Auth:Keys:0:Key"] = GoodKey,
            ["Dynamo:Gateway:Auth:Keys:1:Key"] = LimitedKey,
            ["Dynamo:Gateway:Auth:Keys:1:Name"] = "limited",
            ["Dynamo:Gateway:Auth:Keys:1:RequestsPerMinute"] = "2",
        });

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(cluster, key: null));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(cluster, key: "sk-wrong-key-0123456789"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(cluster, key: GoodKey[..^1]));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(cluster, key: GoodKey));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(cluster, key: LimitedKey));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(cluster, key: LimitedKey));
        Assert.Equal(HttpStatusCode.TooManyRequests, await SendAsync(cluster, key: LimitedKey));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(cluster, key: GoodKey));

        using var unauthorized = await cluster.Client.PostAsync("v1/completions", Json.Body(new { model = "tiny", prompt = "x" }));
        var body = await Json.ReadAsync(unauthorized);
        Json.AssertOpenAiError(body);
        Assert.Equal("invalid_api_key", body["error"]!["code"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await cluster.Client.GetAsync("health")).StatusCode);
    }

    [Fact]
    public async Task Keys_ConcurrencyLimit_Is429WhileAStreamIsOpen()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:Auth:Keys:0:Key"] = GoodKey,
            ["Dynamo:Gateway:Auth:Keys:0:MaxConcurrentRequests"] = "1",
            ["Dynamo:Mocker:ZeroDelay"] = "false",
        });
        using var open = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = Json.Body(new { model = cluster.Model, prompt = "long", max_tokens = 300, ignore_eos = true, stream = true }),
        };
        open.Headers.Authorization = new AuthenticationHeaderValue("Bearer", GoodKey);
        using var stream = await cluster.Client.SendAsync(open, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);

        Assert.Equal(HttpStatusCode.TooManyRequests, await SendAsync(cluster, GoodKey));
    }

    [Fact]
    public async Task AdminPort_ServesMetricsAndHealth_PublicPortDoesNot()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?> { ["Dynamo:Gateway:AdminPort"] = "0" });
        Assert.NotEqual(cluster.Address, cluster.Cluster.AdminAddress);
        using var admin = new HttpClient { BaseAddress = cluster.Cluster.AdminAddress };

        Assert.Equal(HttpStatusCode.NotFound, (await cluster.Client.GetAsync("metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await cluster.Client.GetAsync("health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("health")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, await SendAsync(cluster, key: null));
    }

    private static async Task<HttpStatusCode> SendAsync(TestCluster cluster, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = Json.Body(new { model = cluster.Model, prompt = "hello", max_tokens = 2 }),
        };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var response = await cluster.Client.SendAsync(request);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            Json.AssertOpenAiError(await Json.ReadAsync(response));
        }

        return response.StatusCode;
    }
}
