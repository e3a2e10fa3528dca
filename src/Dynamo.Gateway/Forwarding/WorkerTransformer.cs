using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Dynamo.Gateway.Forwarding;

/// <summary>
/// YARP transform for one forwarded request: points it at the worker's <c>/v1/completions</c> with the
/// token-id body the gateway built, and takes over the response body so the relay can rewrite the stream.
/// Returning false from <see cref="TransformResponseAsync"/> tells the forwarder the response is handled.
/// </summary>
internal sealed class WorkerTransformer(WorkerStreamRelay relay, string requestId) : HttpTransformer
{
    /// <summary>Set when the worker answered with an error status; its body is relayed as is.</summary>
    public int? WorkerErrorStatus { get; private set; }

    /// <summary>Set when the stream broke after it began.</summary>
    public Exception? StreamFailure { get; private set; }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.RequestUri = new Uri(destinationPrefix + "v1/completions", UriKind.Absolute);
        proxyRequest.Headers.Remove("x-request-id");
        proxyRequest.Headers.TryAddWithoutValidation("x-request-id", requestId);
        proxyRequest.Headers.Accept.Clear();
        proxyRequest.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is null)
        {
            return false;
        }

        if (!proxyResponse.IsSuccessStatusCode)
        {
            WorkerErrorStatus = (int)proxyResponse.StatusCode;
            httpContext.Response.StatusCode = WorkerErrorStatus.Value;
            httpContext.Response.ContentType = proxyResponse.Content.Headers.ContentType?.ToString() ?? "application/json";
            await proxyResponse.Content.CopyToAsync(httpContext.Response.Body, cancellationToken);
            return false;
        }

        try
        {
            var stream = await proxyResponse.Content.ReadAsStreamAsync(cancellationToken);
            await relay.RelayAsync(stream, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or WorkerStreamException or System.Text.Json.JsonException or InvalidDataException
                                   || (ex is OperationCanceledException && !httpContext.RequestAborted.IsCancellationRequested))
        {
            // Caught here: the forwarder would otherwise try to clear a response that has already started.
            StreamFailure = ex;
        }

        return false;
    }
}
