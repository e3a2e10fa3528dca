using System.Globalization;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dynamo.Runtime.Http;

/// <summary>
/// The HTTP edge the gateway and the workers share: every rejection the application can shape leaves as
/// <c>{"error":{"message","type","param","code"}}</c>, including those ASP.NET Core decides without a handler
/// (routing's 405, the content-type check's 415) and those Kestrel raises while the application reads the body
/// (a malformed chunked body, a body over Kestrel's size limit); an unexpected exception is logged and answered 500.
/// </summary>
/// <remarks>
/// Kestrel answers some requests before any application code runs (a malformed request line or header, a request
/// line over its limit, too many or too large headers, an unsupported HTTP version): those responses have an empty
/// body and cannot be shaped.
/// </remarks>
public static partial class OpenAiErrors
{
    /// <summary>The only request body media type the OpenAI endpoints accept (a <c>charset</c> parameter is allowed).</summary>
    public const string JsonMediaType = "application/json";

    /// <summary>
    /// Outermost middleware: turns an <see cref="OpenAiException"/> or a body-framing failure thrown below into its
    /// error response, and gives a body to any 4xx/5xx answered without one.
    /// </summary>
    public static IApplicationBuilder UseOpenAiErrorBodies(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        OpenAiException? error;
        try
        {
            await next(context).ConfigureAwait(false);
            error = !context.Response.HasStarted && context.Response.StatusCode >= 400 && !context.RequestAborted.IsCancellationRequested
                ? ForStatus(context)
                : null;
        }
        catch (OpenAiException ex) when (!context.Response.HasStarted)
        {
            error = ex;
        }
        catch (Exception ex) when (!context.Response.HasStarted && BodyReadFailure(ex, context) is { } failure)
        {
            error = failure;
        }
        catch (ConnectionResetException)
        {
            // The client reset the connection: nobody to answer, nothing to log but a debug line.
            LogClientReset(Logger(context), OpenAiException.Shorten(context.Request.Method), OpenAiException.Shorten(context.Request.Path.Value));
            return;
        }
        catch (Exception ex) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            // A bug, not the client's doing: logged once with its stack trace, answered in the same shape as the rest.
            LogUnhandled(Logger(context), ex,
                OpenAiException.Shorten(context.Request.Method), OpenAiException.Shorten(context.Request.Path.Value));
            error = new OpenAiException(StatusCodes.Status500InternalServerError, "The server failed while handling the request.", "server_error", code: "internal_error");
        }

        if (error is not null)
        {
            await WriteAsync(context, error).ConfigureAwait(false);
        }
    });

    /// <summary>
    /// What a failure while reading the request body means for the client: a 4xx for a body Kestrel refused
    /// (malformed chunked framing, over its size limit, too slow), null when the client went away (nothing to answer).
    /// Kestrel reports a chunk size that overflows as a plain <see cref="IOException"/>, not as a bad request.
    /// </summary>
    public static OpenAiException? BodyReadFailure(Exception exception, HttpContext context)
    {
        if (context.RequestAborted.IsCancellationRequested || exception is ConnectionResetException or OperationCanceledException)
        {
            return null;
        }

        return exception switch
        {
            BadHttpRequestException bad => new OpenAiException(bad.StatusCode, $"The request could not be read: {bad.Message}", "invalid_request_error",
                code: bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "request_too_large" : "malformed_request"),
            IOException io => new OpenAiException(StatusCodes.Status400BadRequest, $"The request body could not be read: {io.Message}", "invalid_request_error",
                code: "malformed_request"),
            _ => null,
        };
    }

    /// <summary>The error for a response that has a failure status and no body yet (routing's 404/405/415 and the like).</summary>
    public static OpenAiException ForStatus(HttpContext context)
    {
        var request = context.Request;
        var status = context.Response.StatusCode;
        var type = status >= 500 ? "server_error" : "invalid_request_error";
        var target = $"{OpenAiException.Shorten(request.Method)} {OpenAiException.Shorten(request.Path.Value)}";
        return status switch
        {
            StatusCodes.Status404NotFound => new OpenAiException(status, $"Unknown path: {target}.", type, code: "unknown_url"),
            StatusCodes.Status405MethodNotAllowed => new OpenAiException(status,
                $"Method not allowed: {target}; allowed: {OpenAiException.Shorten(context.Response.Headers.Allow.ToString())}.", type, code: "method_not_allowed"),
            StatusCodes.Status415UnsupportedMediaType => UnsupportedMediaType(request.ContentType),
            _ => new OpenAiException(status, $"{ReasonPhrases.GetReasonPhrase(status)}: {target}.", type,
                code: status.ToString(CultureInfo.InvariantCulture)),
        };
    }

    /// <summary>
    /// Wraps an endpoint that reads a JSON body: anything but <c>Content-Type: application/json</c> (a UTF-8
    /// <c>charset</c> parameter allowed) gets 415 before the body is read. Browsers send form and text/plain posts
    /// without asking the server first (no CORS preflight); refusing them is what keeps a web page from posting
    /// to a keyless gateway.
    /// </summary>
    public static RequestDelegate JsonOnly(RequestDelegate handler) => context =>
        IsJson(context.Request.ContentType) ? handler(context) : throw UnsupportedMediaType(context.Request.ContentType);

    /// <summary>
    /// Wraps an endpoint mapped for every method (<c>Map</c>): the methods in <paramref name="allow"/> (e.g.
    /// <c>"GET, HEAD"</c>) reach <paramref name="handler"/>, any other gets 405 with <c>Allow</c>. Routing's own 405 is
    /// lost behind a fallback endpoint (the fallback matches every method first) and carries none of the endpoint's metadata.
    /// </summary>
    public static RequestDelegate Allow(string allow, RequestDelegate handler)
    {
        var methods = allow.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return context =>
        {
            foreach (var method in methods)
            {
                if (string.Equals(method, context.Request.Method, StringComparison.OrdinalIgnoreCase))
                {
                    return handler(context);
                }
            }

            context.Response.Headers.Allow = allow;
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return Task.CompletedTask;
        };
    }

    /// <summary>True for <c>application/json</c>, with no charset or a UTF-8 one.</summary>
    public static bool IsJson(string? contentType)
    {
        if (!Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media)
            || !string.Equals(media.MediaType.Value, JsonMediaType, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var charset = media.Charset;
        return !charset.HasValue
            || charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)
            || charset.Equals("utf8", StringComparison.OrdinalIgnoreCase);
    }

    public static OpenAiException UnsupportedMediaType(string? contentType) => new(
        StatusCodes.Status415UnsupportedMediaType,
        contentType is null
            ? $"The request has no Content-Type; send the JSON body with 'Content-Type: {JsonMediaType}'."
            : $"Content-Type '{OpenAiException.Shorten(contentType)}' is not supported; send the JSON body with 'Content-Type: {JsonMediaType}' (charset utf-8, if any).",
        "invalid_request_error",
        code: "unsupported_media_type");

    /// <summary>Writes <paramref name="error"/> as the response: status, <c>Retry-After</c> when known, the JSON body.</summary>
    public static async Task WriteAsync(HttpContext context, OpenAiException error)
    {
        var response = context.Response;
        response.StatusCode = error.StatusCode;
        response.ContentType = JsonMediaType;
        response.Headers.CacheControl = "no-store";
        if (error.RetryAfter is { } retryAfter)
        {
            response.Headers.RetryAfter = RetryAfterSeconds(retryAfter).ToString(CultureInfo.InvariantCulture);
        }

        using (var writer = new Utf8JsonWriter(response.BodyWriter))
        {
            JsonSerializer.Serialize(writer, error.ToResponse(), OpenAiJsonContext.Default.ErrorResponse);
        }

        // The client may be gone already; the flush then just reports the pipe as completed.
        await response.BodyWriter.FlushAsync(CancellationToken.None).ConfigureAwait(false);
    }

    private static ILogger Logger(HttpContext context) => context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(OpenAiErrors));

    [LoggerMessage(Level = LogLevel.Debug, Message = "The client reset the connection during {Method} {Path}")]
    private static partial void LogClientReset(ILogger logger, string method, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled failure serving {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string method, string path);

    /// <summary><c>Retry-After</c> in whole seconds, rounded up: a client that waits that long finds the slot free.</summary>
    public static long RetryAfterSeconds(TimeSpan wait) => Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds));
}
