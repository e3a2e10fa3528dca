using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Microsoft.AspNetCore.Http;

namespace Dynamo.Worker;

/// <summary>OpenAI-shaped error responses, serialized with the contracts' source-generated context.</summary>
internal static class HttpErrors
{
    public static OpenAiException Draining() =>
        new(503, "This worker is draining and accepts no new requests.", "service_unavailable", code: "worker_draining");

    public static OpenAiException TooLarge(long maxBytes) =>
        new(413, $"The request body is larger than {maxBytes} bytes.", "invalid_request_error", code: "request_too_large");

    public static OpenAiException NotFound(HttpRequest request) =>
        new(404, $"Invalid URL ({request.Method} {request.Path.Value})", "invalid_request_error", code: "unknown_url");

    public static async Task WriteAsync(HttpContext context, OpenAiException error)
    {
        var response = context.Response;
        response.StatusCode = error.StatusCode;
        response.ContentType = "application/json";
        using (var writer = new Utf8JsonWriter(response.BodyWriter))
        {
            JsonSerializer.Serialize(writer, error.ToResponse(), OpenAiJsonContext.Default.ErrorResponse);
        }

        // The client may be gone already; the flush then just reports the pipe as completed.
        await response.BodyWriter.FlushAsync(CancellationToken.None).ConfigureAwait(false);
    }
}
