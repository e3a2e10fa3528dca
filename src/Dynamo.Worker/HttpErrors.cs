using Dynamo.Contracts.OpenAi;
using Dynamo.Runtime.Http;
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
        new(404, $"Invalid URL ({OpenAiException.Shorten(request.Method)} {OpenAiException.Shorten(request.Path.Value)})", "invalid_request_error", code: "unknown_url");

    public static Task WriteAsync(HttpContext context, OpenAiException error) => OpenAiErrors.WriteAsync(context, error);
}
