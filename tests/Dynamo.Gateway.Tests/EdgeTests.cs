using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Dynamo.Cli.Configuration;
using Dynamo.Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// The HTTP edge under attack (issue 12, findings 3 and 7): admin paths on the public port in every spelling,
/// content types a browser can post without a preflight, cross-origin access, malformed chunked bodies, echoed
/// client values, truthful Retry-After, key files held to the inline keys' rules, throttled failed authentications.
/// </summary>
public sealed class EdgeTests
{
    private const string GoodKey = "sk-dynamo-edge-0123456789";

    public static TheoryData<string> AdminSpellings() =>
    [
        "/metrics", "/metrics/", "/health/", "/live/", "/metrics/.", "/metrics/./", "/%6Detrics", "/%6detrics/", "/METRICS",
        "/Health/", "/LIVE", "/./metrics", "/v1/../metrics", "/v1/../health/", "/metrics%2F", "/metrics/%2E", "/%2E/metrics",
        "/metrics?x=1", "/metrics/?format=text",
    ];

    [Theory]
    [MemberData(nameof(AdminSpellings))]
    public async Task AdminPath_AnySpellingOnThePublicPort_Is404(string target)
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?> { ["Dynamo:Gateway:AdminPort"] = "0" });

        var response = await RawHttp.GetAsync(cluster.Address, target);

        Assert.Equal(404, response.Status);
        AssertOpenAiBody(response.Body, "unknown_url");
        Assert.DoesNotContain("dynamo_", response.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AdminPath_OtherMethodsOnThePublicPort_Are404_AndTheAdminPortStillServes()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?> { ["Dynamo:Gateway:AdminPort"] = "0" });
        using var admin = new HttpClient { BaseAddress = cluster.Cluster.AdminAddress };

        foreach (var method in new[] { "POST", "PUT", "DELETE", "OPTIONS", "HEAD" })
        {
            var response = await RawHttp.SendAsync(cluster.Address,
                $"{method} /metrics/ HTTP/1.1\r\nHost: {cluster.Address.Authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            Assert.True(response.Status == 404, $"{method} /metrics/ on the public port answered {response.Status}");
        }

        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("metrics/")).StatusCode);
        var post = await admin.PostAsync("metrics", new StringContent(""));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Json.AssertOpenAiError(await Json.ReadAsync(post));
        Assert.Equal(404, (await RawHttp.GetAsync(cluster.Cluster.AdminAddress, "/v1/models/")).Status);
    }

    [Fact]
    public async Task Keys_AnySpellingOfAnApiPath_NeedsTheKey()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?> { ["Dynamo:Gateway:Auth:Keys:0:Key"] = GoodKey });

        foreach (var target in new[] { "/v1/models", "/v1/models/", "/V1/Models", "/%76%31/models", "/x/../v1/models", "/v1/nothing-here" })
        {
            var response = await RawHttp.GetAsync(cluster.Address, target);
            Assert.True(response.Status == 401, $"GET {target} without a key answered {response.Status}");
            AssertOpenAiBody(response.Body, "invalid_api_key");
        }
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("text/plain;charset=UTF-8")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("application/json; charset=utf-16")]
    [InlineData("application/jsonx")]
    [InlineData(null)]
    public async Task Post_WithoutJsonContentType_Is415(string? contentType)
    {
        await using var cluster = await TestCluster.StartAsync();
        var body = $"{{\"model\":\"{cluster.Model}\",\"prompt\":\"hi\",\"max_tokens\":2}}";
        var headers = contentType is null ? "" : $"Content-Type: {contentType}\r\n";

        var response = await RawHttp.SendAsync(cluster.Address,
            $"POST /v1/completions HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}");

        Assert.Equal(415, response.Status);
        AssertOpenAiBody(response.Body, "unsupported_media_type");
    }

    [Fact]
    public async Task Post_JsonWithCharset_IsServed()
    {
        await using var cluster = await TestCluster.StartAsync();
        var content = new StringContent($"{{\"model\":\"{cluster.Model}\",\"prompt\":\"hi\",\"max_tokens\":2}}");
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("Application/JSON; charset=UTF-8");

        using var response = await cluster.Client.PostAsync("v1/completions", content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Cors_Default_RefusesEveryOrigin_WithoutAllowOriginHeaders()
    {
        await using var cluster = await TestCluster.StartAsync();

        var preflight = await RawHttp.SendAsync(cluster.Address,
            "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n" +
            "Access-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n");
        Assert.Equal(403, preflight.Status);
        Assert.False(preflight.Headers.ContainsKey("Access-Control-Allow-Origin"));
        AssertOpenAiBody(preflight.Body, "origin_not_allowed");

        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json.Body(new { model = cluster.Model, prompt = "hi", max_tokens = 2 }) };
        request.Headers.Add("Origin", "http://127.0.0.1:1234");
        using var post = await cluster.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        Assert.False(post.Headers.Contains("Access-Control-Allow-Origin"));
        Json.AssertOpenAiError(await Json.ReadAsync(post));

        // Clients that are not browsers send no Origin and are served as before.
        using var plain = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = "hi", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
    }

    [Fact]
    public async Task Cors_ConfiguredOrigin_PreflightAndRequestWork_OnlyForThatOrigin()
    {
        const string Allowed = "https://app.example.com";
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?> { ["Dynamo:Gateway:Cors:AllowedOrigins:0"] = Allowed });

        var preflight = await RawHttp.SendAsync(cluster.Address,
            $"OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: {Allowed}\r\nAccess-Control-Request-Method: POST\r\n" +
            "Access-Control-Request-Headers: authorization, content-type\r\nConnection: close\r\n\r\n");
        Assert.Equal(204, preflight.Status);
        Assert.Equal(Allowed, preflight.Headers["Access-Control-Allow-Origin"]);
        Assert.Contains("POST", preflight.Headers["Access-Control-Allow-Methods"], StringComparison.Ordinal);

        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json.Body(new { model = cluster.Model, prompt = "hi", max_tokens = 2 }) };
        request.Headers.Add("Origin", Allowed);
        using var post = await cluster.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        Assert.Equal(Allowed, post.Headers.GetValues("Access-Control-Allow-Origin").Single());

        var other = await RawHttp.SendAsync(cluster.Address,
            "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com.evil.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n");
        Assert.Equal(403, other.Status);
        Assert.False(other.Headers.ContainsKey("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Cors_BadOrigin_IsRefusedAtStart()
    {
        var error = await Assert.ThrowsAsync<ConfigurationException>(() => TestCluster.StartAsync(
            new Dictionary<string, string?> { ["Dynamo:Gateway:Cors:AllowedOrigins:0"] = "https://app.example.com/" }));
        Assert.Contains("Dynamo:Gateway:Cors:AllowedOrigins:0", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("FFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n")]
    [InlineData("80000000000000000\r\n{}\r\n0\r\n\r\n")]
    [InlineData("zz\r\n{}\r\n0\r\n\r\n")]
    [InlineData("2\r\n{}XX0\r\n\r\n")]
    public async Task MalformedChunkedBody_Is400(string chunked)
    {
        await using var cluster = await TestCluster.StartAsync();

        var response = await RawHttp.SendAsync(cluster.Address,
            "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked);

        Assert.Equal(400, response.Status);
        AssertOpenAiBody(response.Body, "malformed_request");
        using var after = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = "hi", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task UnknownModel_WithAMegabyteName_AnswersASmallMessage()
    {
        await using var cluster = await TestCluster.StartAsync();
        var name = new string('m', 1024 * 1024);

        using var response = await Json.PostAsync(cluster.Client, "v1/completions", new { model = name, prompt = "hi" });
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.True(text.Length < 512, $"a {text.Length}-character error body");
        var message = JsonNode.Parse(text)!["error"]!["message"]!.GetValue<string>();
        Assert.Contains("(1048576 chars)", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownPathAndMethod_EchoNoMoreThanAShortValue()
    {
        await using var cluster = await TestCluster.StartAsync();

        var path = await RawHttp.GetAsync(cluster.Address, "/" + new string('p', 6000));
        var method = await RawHttp.SendAsync(cluster.Address, $"{new string('X', 4000)} /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        Assert.Equal(404, path.Status);
        Assert.True(path.Body.Length < 512, path.Body);
        Assert.Equal(405, method.Status);
        Assert.True(method.Body.Length < 512, method.Body);
        AssertOpenAiBody(method.Body, "method_not_allowed");
    }

    [Fact]
    public async Task RateLimit_RetryAfter_IsTheTimeUntilASlotFrees()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:Auth:Keys:0:Key"] = GoodKey,
            ["Dynamo:Gateway:Auth:RequestsPerMinute"] = "2",
        });

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(cluster, GoodKey)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(cluster, GoodKey)).StatusCode);
        using var refused = await SendAsync(cluster, GoodKey);

        // Two a minute: one frees 30 s after the first was taken (less the time the two took).
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        var retryAfter = refused.Headers.RetryAfter!.Delta!.Value.TotalSeconds;
        Assert.InRange(retryAfter, 15, 30);
        Json.AssertOpenAiError(await Json.ReadAsync(refused));
    }

    [Fact]
    public async Task FailedAuthentications_PastTheLimit_Are429ForThatAddress_EvenWithTheRightKey()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:Auth:Keys:0:Key"] = GoodKey,
            ["Dynamo:Gateway:Auth:MaxFailuresPerClient"] = "3",
            ["Dynamo:Gateway:Auth:FailureWindow"] = "00:01:00",
        });

        for (var i = 0; i < 3; i++)
        {
            using var wrong = await SendAsync(cluster, "sk-wrong-key-000000" + i);
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var throttled = await SendAsync(cluster, "sk-wrong-key-0000009");
        using var good = await SendAsync(cluster, GoodKey);

        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        var body = await Json.ReadAsync(throttled);
        Json.AssertOpenAiError(body);
        Assert.Equal("too_many_auth_failures", body["error"]!["code"]!.GetValue<string>());

        // Three a minute: the first failure ages out 20 s after it was made.
        Assert.InRange(throttled.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 5, 20);
        Assert.Equal(HttpStatusCode.TooManyRequests, good.StatusCode);
        var metrics = await (await cluster.Client.GetAsync("metrics")).Content.ReadAsStringAsync();
        Assert.Matches("dynamo_frontend_auth_failures_total\\{reason=\"invalid_key\"\\} 3\\b", metrics);
        Assert.Matches("dynamo_frontend_auth_failures_total\\{reason=\"throttled\"\\} 2\\b", metrics);
    }

    [Theory]
    [InlineData("# the team's keys\nsk-dynamo-file-0123456789\nshort\n", "line 3", "at least 8")]
    [InlineData("sk-dynamo-file-0123456789\nsk-dynamo with-space-0123\n", "line 2", "printable ASCII")]
    [InlineData("sk-dynamo-edge-0123456789\n", "line 1", "repeats")]
    public async Task KeysFile_BadKey_IsRefusedAtStart_NamingTheFileAndLine(string content, string line, string rule)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, content);
            var error = await Assert.ThrowsAsync<ConfigurationException>(() => TestCluster.StartAsync(new Dictionary<string, string?>
            {
                ["Dynamo:Gateway:Auth:Keys:0:Key"] = GoodKey,
                ["Dynamo:Gateway:Auth:KeysFile"] = file,
            }));

            Assert.Contains($"'{file}' {line}", error.Message, StringComparison.Ordinal);
            Assert.Contains(rule, error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("sk-dynamo", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task InlineKey_WithAControlCharacter_IsRefusedAtStart()
    {
        var error = await Assert.ThrowsAsync<ConfigurationException>(() => TestCluster.StartAsync(
            new Dictionary<string, string?> { ["Dynamo:Gateway:Auth:Keys:0:Key"] = "sk-dynamo-\t-0123456789" }));

        Assert.Contains("Dynamo:Gateway:Auth:Keys:0:Key", error.Message, StringComparison.Ordinal);
        Assert.Contains("printable ASCII", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongMethodOnAnApiPath_Is405InOpenAiShape()
    {
        await using var cluster = await TestCluster.StartAsync();

        using var response = await cluster.Client.GetAsync("v1/chat/completions");

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Contains("POST", response.Content.Headers.Allow);
        var body = await Json.ReadAsync(response);
        Json.AssertOpenAiError(body);
        Assert.Equal("method_not_allowed", body["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task ClientCancel_IsLoggedAsOneLine_WithoutAStackTrace()
    {
        var log = new LogCapture();
        using var factory = log.CreateFactory();
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?> { ["Dynamo:Mocker:ZeroDelay"] = "false" }, factory);

        using (var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = Json.Body(new { model = cluster.Model, prompt = "a long answer", max_tokens = 500, ignore_eos = true, stream = true }),
        })
        using (var response = await cluster.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: ", await reader.ReadLineAsync(), StringComparison.Ordinal);
        }

        await WaitForAsync(
            () => log.Entries.Any(e => e.Message.Contains("cancelled by the client", StringComparison.Ordinal)) && cluster.Cluster.Workers.All(w => w.InflightRequests == 0),
            $"the gateway's cancel line and the workers idle; the log:{Environment.NewLine}{log}");
        Assert.Single(log.Entries, e => e.Message.Contains("cancelled by the client", StringComparison.Ordinal) && e.Level <= LogLevel.Information);
        Assert.DoesNotContain(log.Entries, e => e.Exception is not null || e.Level >= LogLevel.Warning);
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    private static async Task<HttpResponseMessage> SendAsync(TestCluster cluster, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = Json.Body(new { model = cluster.Model, prompt = "hello", max_tokens = 2 }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return await cluster.Client.SendAsync(request);
    }

    private static void AssertOpenAiBody(string body, string code)
    {
        var node = JsonNode.Parse(body) ?? throw new Xunit.Sdk.XunitException("empty body");
        Json.AssertOpenAiError(node);
        Assert.Equal(code, node["error"]!["code"]?.GetValue<string>());
    }
}
