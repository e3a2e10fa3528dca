using Dynamo.Runtime.Security;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Runtime.Tests.Security;

/// <summary>
/// The handler mints one credential per second, method and path and reuses it within that second: what each request
/// carries is still the credential of its own second, method and path, and a header the request had is replaced.
/// </summary>
public sealed class ClusterCredentialHandlerTests
{
    [Fact]
    public async Task EachRequest_CarriesTheCredentialOfItsSecondMethodAndPath()
    {
        var secret = ClusterSecret.Generate();
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000).AddMilliseconds(100));
        var seen = new Capture();
        using var client = new HttpClient(new ClusterCredentialHandler(secret, seen, time)) { BaseAddress = new Uri("http://worker:1/") };

        async Task<string> SendAsync(HttpMethod method, string path)
        {
            using var request = new HttpRequestMessage(method, path);
            request.Headers.TryAddWithoutValidation(ClusterSecret.HttpHeader, "from-the-client");
            using var response = await client.SendAsync(request);
            return seen.Last!;
        }

        var first = await SendAsync(HttpMethod.Post, "v1/completions");
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(first, await SendAsync(HttpMethod.Post, "v1/completions"));
        Assert.Equal(secret.CreateHttpCredential("POST", "/v1/completions", time.GetUtcNow()), first);

        // Another path, another method, the next second: each its own.
        Assert.Equal(secret.CreateHttpCredential("POST", "/v1/kv/dump", time.GetUtcNow()), await SendAsync(HttpMethod.Post, "v1/kv/dump"));
        Assert.Equal(secret.CreateHttpCredential("GET", "/v1/kv/dump", time.GetUtcNow()), await SendAsync(HttpMethod.Get, "v1/kv/dump"));
        time.Advance(TimeSpan.FromMilliseconds(500));
        var next = await SendAsync(HttpMethod.Post, "v1/completions");
        Assert.NotEqual(first, next);
        Assert.Equal(ClusterCredentialCheck.Valid, secret.VerifyHttpCredential(next, "POST", "/v1/completions", time.GetUtcNow()));
    }

    /// <summary>Answers 200 and keeps the one credential header of the last request.</summary>
    private sealed class Capture : HttpMessageHandler
    {
        public string? Last { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Last = Assert.Single(request.Headers.GetValues(ClusterSecret.HttpHeader));
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));
        }
    }
}
