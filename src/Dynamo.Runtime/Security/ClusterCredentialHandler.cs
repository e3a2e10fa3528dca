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
        request.Headers.Remove(ClusterSecret.HttpHeader);
        request.Headers.TryAddWithoutValidation(
            ClusterSecret.HttpHeader, _secret.CreateHttpCredential(request.Method.Method, uri.AbsolutePath, _time.GetUtcNow()));
    }
}
