using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Dynamo.Gateway.Forwarding;

/// <summary>
/// YARP transform for one attempt at a worker. The forwarder runs on a per-attempt request context (see
/// <see cref="WorkerAttemptContext"/>) so that a migrated request can be forwarded again after the client's
/// response has started; this transform takes over the worker's response body and relays it to the client.
/// Returning false from <see cref="TransformResponseAsync"/> tells the forwarder the response is handled.
/// </summary>
internal sealed class WorkerTransformer(WorkerStreamRelay relay, string requestId) : HttpTransformer
{
    /// <summary>Set when the worker answered with an error status.</summary>
    public int? WorkerErrorStatus { get; private set; }

    /// <summary>The worker's error body (already OpenAI-shaped when the worker is ours).</summary>
    public byte[]? WorkerErrorBody { get; private set; }

    public string? WorkerErrorContentType { get; private set; }

    /// <summary>Set when the stream broke after it began.</summary>
    public Exception? StreamFailure { get; private set; }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        // No RequestUri here: the forwarder makes it after the transform from the destination prefix and the attempt's
        // path, /v1/completions (WorkerAttemptContext), once per request.
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.Headers.TryAddWithoutValidation("x-request-id", requestId);
        proxyRequest.Headers.Remove("Accept");
        proxyRequest.Headers.TryAddWithoutValidation("Accept", "text/event-stream");
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is null)
        {
            return false;
        }

        try
        {
            if (!proxyResponse.IsSuccessStatusCode)
            {
                WorkerErrorStatus = (int)proxyResponse.StatusCode;
                WorkerErrorContentType = proxyResponse.Content.Headers.ContentType?.ToString();
                WorkerErrorBody = await proxyResponse.Content.ReadAsByteArrayAsync(cancellationToken);
                return false;
            }

            var stream = await proxyResponse.Content.ReadAsStreamAsync(cancellationToken);
            await relay.RelayAsync(stream, cancellationToken);
        }
        catch (Exception) when (httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client left. The pipeline logs that as one line; thrown on, YARP would log a failed response with
            // the whole stack trace, at warning level, for every client that closes a stream early.
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or WorkerStreamException or System.Text.Json.JsonException or InvalidDataException
                                   or OperationCanceledException)
        {
            // Kept for the pipeline, which decides between migrating and failing the stream.
            StreamFailure = ex;
        }

        return false;
    }
}
