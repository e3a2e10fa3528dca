namespace Dynamo.Runtime.Security;

/// <summary>
/// Puts a fresh <see cref="ClusterSecret.HttpHeader"/> credential on every request it sends, replacing any the request
/// already had (a client's header copied by the proxy must not reach the worker). Sits under every HTTP client a
/// frontend uses to talk to workers: generation (YARP's forwarder), remote prefill, health probes, and the KV router's
/// replay and dump calls.
/// </summary>
public sealed class ClusterCredentialHandler : DelegatingHandler
{
    private readonly ClusterSecret _secret;
    private readonly TimeProvider _time;

    // The credential is a function of (second, method, path) only: requests of the same second to the same path share
    // one, made once (an HMAC and four strings per request otherwise, on the gateway's hot path).
    private Minted? _last;

    public ClusterCredentialHandler(ClusterSecret secret, HttpMessageHandler inner, TimeProvider? time = null)
        : base(inner)
    {
        ArgumentNullException.ThrowIfNull(secret);
        _secret = secret;
        _time = time ?? TimeProvider.System;
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Stamp(request);
        return base.SendAsync(request, cancellationToken);
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Stamp(request);
        return base.Send(request, cancellationToken);
    }

    private void Stamp(HttpRequestMessage request)
    {
        var uri = request.RequestUri ?? throw new InvalidOperationException("The request has no URI.");
        var method = request.Method.Method;
        var path = uri.AbsolutePath;
        var now = _time.GetUtcNow();
        var seconds = now.ToUnixTimeSeconds();
        var last = Volatile.Read(ref _last);
        if (last is null || last.Seconds != seconds || !string.Equals(last.Method, method, StringComparison.Ordinal) || !string.Equals(last.Path, path, StringComparison.Ordinal))
        {
            last = new Minted(seconds, method, path, _secret.CreateHttpCredential(method, path, now));
            Volatile.Write(ref _last, last);
        }

        request.Headers.Remove(ClusterSecret.HttpHeader);
        request.Headers.TryAddWithoutValidation(ClusterSecret.HttpHeader, last.Credential);
    }

    private sealed record Minted(long Seconds, string Method, string Path, string Credential);
}
