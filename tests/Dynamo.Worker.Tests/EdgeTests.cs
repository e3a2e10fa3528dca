using System.Text.Json;
using Dynamo.Gateway.Tests.Infrastructure;
using Dynamo.Runtime.Security;
using Dynamo.Worker.Tests.Infrastructure;

namespace Dynamo.Worker.Tests;

/// <summary>The worker's HTTP edge (issue 12, finding 7): malformed chunked bodies, content types, methods, echoes.</summary>
public sealed class EdgeTests
{
    private const string Body = """{"model":"test-model","prompt":[1,2,3],"max_tokens":2}""";

    [Theory]
    [InlineData("FFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n")]
    [InlineData("80000000000000000\r\n{}\r\n0\r\n\r\n")]
    [InlineData("zz\r\n{}\r\n0\r\n\r\n")]
    public async Task MalformedChunkedBody_Is400_NotAnEngineFailure(string chunked)
    {
        await using var w = await TestWorker.StartAsync();

        var (status, body) = await SendRawAsync(w.Host.Address,
            "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked);

        Assert.Equal(400, status);
        Assert.Equal("malformed_request", ErrorCode(body));
        Assert.DoesNotContain(w.Log.Entries, e => e.StartsWith("Error", StringComparison.Ordinal));
        Assert.True((await w.PostAsync("/v1/completions", Body)).IsSuccessStatusCode);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData(null)]
    public async Task Post_WithoutJsonContentType_Is415(string? contentType)
    {
        await using var w = await TestWorker.StartAsync();
        var headers = contentType is null ? "" : $"Content-Type: {contentType}\r\n";

        var (status, body) = await SendRawAsync(w.Host.Address,
            $"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {Body.Length}\r\nConnection: close\r\n\r\n{Body}");

        Assert.Equal(415, status);
        Assert.Equal("unsupported_media_type", ErrorCode(body));
    }

    [Fact]
    public async Task WrongMethodAndLongPath_AreShapedAndShort()
    {
        await using var w = await TestWorker.StartAsync();

        var (method, methodBody) = await SendRawAsync(w.Host.Address, "GET /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        var (path, pathBody) = await SendRawAsync(w.Host.Address, $"GET /{new string('p', 6000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        Assert.Equal(405, method);
        Assert.Equal("method_not_allowed", ErrorCode(methodBody));
        Assert.Equal(404, path);
        Assert.True(pathBody.Length < 512, pathBody);
    }

    [Fact]
    public async Task UnknownModel_WithAMegabyteName_AnswersASmallMessage()
    {
        await using var w = await TestWorker.StartAsync();

        using var response = await w.PostAsync("/v1/completions", $$"""{"model":"{{new string('m', 1 << 20)}}","prompt":[1,2]}""");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(404, (int)response.StatusCode);
        Assert.True(text.Length < 512, $"a {text.Length}-character error body");
    }

    private static string? ErrorCode(string body) => JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("code").GetString();

    /// <summary>
    /// A request written byte for byte (<see cref="RawHttp"/>: HttpClient will not send broken framing), signed with the
    /// cluster credential as the gateway would sign it, so the edge under test is reached rather than the 401 in front of it.
    /// </summary>
    private static async Task<(int Status, string Body)> SendRawAsync(Uri server, string request)
    {
        var lineEnd = request.IndexOf("\r\n", StringComparison.Ordinal);
        var requestLine = request[..lineEnd].Split(' ');
        var credential = TestWorker.Secret.CreateHttpCredential(requestLine[0], requestLine[1].Split('?')[0], DateTimeOffset.UtcNow);
        var response = await RawHttp.SendAsync(server, request.Insert(lineEnd + 2, $"{ClusterSecret.HttpHeader}: {credential}\r\n"));
        return (response.Status, response.Body);
    }
}
