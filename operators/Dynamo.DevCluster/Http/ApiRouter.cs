using System.Globalization;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Discovery;
using Dynamo.DevCluster.Observability;
using Dynamo.DevCluster.Store;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Dynamo.DevCluster.Http;

/// <summary>
/// The request pipeline: the unauthenticated endpoints (/metrics, /healthz, /livez, /readyz, /version, which the real
/// server also leaves open), the bearer-token check, discovery and OpenAPI, then the resource handlers; every
/// failure answered as a Status, every request counted.
/// </summary>
internal sealed partial class ApiRouter
{
    private readonly ResourceRegistry _registry;
    private readonly ResourceHandler _resources;
    private readonly ApiServerMetrics _metrics;
    private readonly byte[] _expectedAuthorization;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public ApiRouter(ResourceRegistry registry, ResourceHandler resources, ApiServerMetrics metrics, string token, TimeProvider time, ILogger logger)
    {
        _registry = registry;
        _resources = resources;
        _metrics = metrics;
        _expectedAuthorization = System.Text.Encoding.UTF8.GetBytes("Bearer " + token);
        _time = time;
        _logger = logger;
    }

    /// <summary>host:port as /api reports it; set once the listener is bound.</summary>
    public string ServerAddress { get; set; } = "";

    /// <summary>Answers one request.</summary>
    public async Task HandleAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "/";
        var started = _time.GetTimestamp();
        var verb = ctx.Request.Method.ToLowerInvariant();
        var resource = "";
        try
        {
            if (path == "/metrics" && ctx.Request.Method == "GET")
            {
                ctx.Response.ContentType = "text/plain; version=0.0.4";
                await _metrics.Registry.CollectAndExportAsTextAsync(ctx.Response.Body, ctx.RequestAborted);
                return;
            }
            if (path is not ("/healthz" or "/livez" or "/readyz" or "/version")
                && !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
                    System.Text.Encoding.UTF8.GetBytes(ctx.Request.Headers.Authorization.ToString()), _expectedAuthorization))
            {
                throw new ApiException(401, "Unauthorized", "Unauthorized: send the bearer token from the kubeconfig the dev cluster wrote");
            }
            if (path == "/openapi/v2" && ctx.Request.Method == "GET")
            {
                ctx.Response.ContentType = OpenApiV2Document.ContentType;
                await ctx.Response.Body.WriteAsync(OpenApiV2Document.Protobuf, ctx.RequestAborted);
                return;
            }
            Negotiation.CheckAcceptsJson(ctx.Request);
            if (ctx.Request.Method == "GET" && await TryDiscoveryAsync(ctx, _registry, path, ServerAddress)) return;
            var info = RequestInfo.Parse(_registry, path)
                ?? throw new ApiException(404, "NotFound", $"the server could not find the requested resource ({ctx.Request.Method} {path})");
            resource = info.Type.QualifiedResource + (info.Subresource is null ? "" : "/" + info.Subresource);
            verb = Verb(ctx.Request, info);
            await _resources.HandleAsync(ctx, info);
        }
        catch (ApiException e)
        {
            if (e.Code >= 500) LogServerError(_logger, ctx.Request.Method, path, e.Message);
            else LogRefused(_logger, ctx.Request.Method, path, e.Code, e.Message);
            if (!ctx.Response.HasStarted)
            {
                if (e.RetryAfterSeconds is { } retry) ctx.Response.Headers.RetryAfter = retry.ToString(CultureInfo.InvariantCulture);
                await Negotiation.WriteJsonAsync(ctx.Response, e.Code, e.ToStatus(), ctx.RequestAborted);
            }
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client left.
        }
        catch (Exception e)
        {
            LogUnexpected(_logger, e, ctx.Request.Method, path);
            if (!ctx.Response.HasStarted)
            {
                var status = new ApiException(500, "InternalError", $"Internal error occurred: {e.Message}").ToStatus();
                await Negotiation.WriteJsonAsync(ctx.Response, 500, status, ctx.RequestAborted);
            }
        }
        finally
        {
            if (path != "/metrics") _metrics.Record(verb, resource, ctx.Response.StatusCode, verb == "watch" ? null : _time.GetElapsedTime(started));
        }
    }

    private static string Verb(HttpRequest request, RequestInfo info) => request.Method switch
    {
        "GET" when info.WatchPath || ResourceHandler.IsTrue(request.Query["watch"]) => "watch",
        "GET" => info.Name is null ? "list" : "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => info.Name is null ? "deletecollection" : "delete",
        var other => other.ToLowerInvariant(),
    };

    private static async Task<bool> TryDiscoveryAsync(HttpContext ctx, ResourceRegistry registry, string path, string serverAddress)
    {
        var segs = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        JsonObject? doc = segs switch
        {
            ["version"] => DiscoveryDocuments.Version(),
            ["healthz"] or ["livez"] or ["readyz"] => null,
            ["api"] => DiscoveryDocuments.CoreVersions(serverAddress),
            ["api", var v] => DiscoveryDocuments.ResourceList(registry, "", v) ?? throw NotFound(path),
            ["apis"] => DiscoveryDocuments.GroupList(registry),
            ["apis", var g] => DiscoveryDocuments.Group(registry, g) ?? throw NotFound(path),
            ["apis", var g, var v] => DiscoveryDocuments.ResourceList(registry, g, v) ?? throw NotFound(path),
            ["openapi", "v3"] => OpenApiDocuments.Index(registry),
            ["openapi", "v3", "api", var v] => OpenApiDocuments.GroupVersion(registry, "", v) ?? throw NotFound(path),
            ["openapi", "v3", "apis", var g, var v] => OpenApiDocuments.GroupVersion(registry, g, v) ?? throw NotFound(path),
            _ => null,
        };
        if (doc is null)
        {
            if (segs is ["healthz"] or ["livez"] or ["readyz"])
            {
                ctx.Response.ContentType = "text/plain";
                await ctx.Response.WriteAsync("ok", ctx.RequestAborted);
                return true;
            }
            return false;
        }
        await Negotiation.WriteJsonAsync(ctx.Response, 200, doc, ctx.RequestAborted);
        return true;
    }

    private static ApiException NotFound(string path) =>
        new(404, "NotFound", $"the server could not find the requested resource ({path})");

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} {Path} refused with {Code}: {Message}")]
    private static partial void LogRefused(ILogger logger, string method, string path, int code, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path} failed: {Message}")]
    private static partial void LogServerError(ILogger logger, string method, string path, string message);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string method, string path);
}
