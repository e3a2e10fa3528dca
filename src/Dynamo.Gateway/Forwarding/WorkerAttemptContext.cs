using Microsoft.AspNetCore.Http;

namespace Dynamo.Gateway.Forwarding;

/// <summary>
/// The request YARP forwards for one attempt: a fresh context carrying the token-id body, the client's
/// cancellation and connection info. The client's own response is written by the relay, so the forwarder's
/// status and header handling never touches a response that has already started streaming.
/// </summary>
internal static class WorkerAttemptContext
{
    public static HttpContext Create(HttpContext client, byte[] body)
    {
        var attempt = new DefaultHttpContext { RequestServices = client.RequestServices };
        var request = attempt.Request;
        request.Method = HttpMethods.Post;
        request.Scheme = client.Request.Scheme;
        request.Host = client.Request.Host;
        request.Path = "/v1/completions";
        request.Protocol = "HTTP/1.1";
        request.ContentType = "application/json";
        request.ContentLength = body.Length;
        request.Body = new MemoryStream(body, writable: false);
        attempt.RequestAborted = client.RequestAborted;
        attempt.Connection.RemoteIpAddress = client.Connection.RemoteIpAddress;
        attempt.Connection.RemotePort = client.Connection.RemotePort;
        attempt.TraceIdentifier = client.TraceIdentifier;
        return attempt;
    }
}
