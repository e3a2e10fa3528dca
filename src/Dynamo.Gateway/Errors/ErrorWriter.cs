using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Dynamo.Runtime.Http;
using Microsoft.AspNetCore.Http;

namespace Dynamo.Gateway.Errors;

/// <summary>Writes OpenAI-shaped errors: <c>{"error":{"message","type","param","code"}}</c>.</summary>
internal static class ErrorWriter
{
    public static Task WriteAsync(HttpContext context, OpenAiException error) =>
        context.Response.HasStarted ? WriteStreamErrorAsync(context, error) : OpenAiErrors.WriteAsync(context, error);

    public static Task WriteAsync(HttpContext context, int status, string message, string type, string? param = null, string? code = null) =>
        WriteAsync(context, new OpenAiException(status, message, type, param, code));

    /// <summary>Once an SSE stream has begun the status is sent; an error event is all that is left to say.</summary>
    private static async Task WriteStreamErrorAsync(HttpContext context, OpenAiException error)
    {
        var body = context.Response.Body;
        await body.WriteAsync("data: "u8.ToArray(), context.RequestAborted);
        await JsonSerializer.SerializeAsync(body, error.ToResponse(), OpenAiJsonContext.Relaxed.ErrorResponse, context.RequestAborted);
        await body.WriteAsync("\n\ndata: [DONE]\n\n"u8.ToArray(), context.RequestAborted);
    }

    public static OpenAiException NotFound(string message, string? param = null, string? code = null) =>
        new(StatusCodes.Status404NotFound, message, "invalid_request_error", param, code);

    public static OpenAiException ServiceUnavailable(string message) =>
        new(StatusCodes.Status503ServiceUnavailable, message, "service_unavailable", null, "no_worker_available");

    /// <summary>
    /// Every worker that could serve the request stayed busy for <c>Dynamo:Gateway:BusyWait</c>: <paramref name="status"/>
    /// (429 or 503, <c>Dynamo:Gateway:BusyStatus</c>) with a one-second Retry-After hint, code <c>workers_busy</c>.
    /// </summary>
    public static OpenAiException WorkersBusy(int status, string message) =>
        new(status, message, status == StatusCodes.Status429TooManyRequests ? "rate_limit_exceeded" : "service_unavailable", null, "workers_busy")
        {
            RetryAfter = TimeSpan.FromSeconds(1),
        };

    /// <summary>
    /// A 429 for capacity (concurrency slots, the queue): when a slot frees depends on requests in flight, so
    /// <c>Retry-After</c> is a one-second hint, not a promise.
    /// </summary>
    public static OpenAiException TooManyRequests(string message) =>
        new(StatusCodes.Status429TooManyRequests, message, "rate_limit_exceeded", null, "too_many_requests") { RetryAfter = TimeSpan.FromSeconds(1) };
}
