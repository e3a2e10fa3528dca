using Dynamo.Contracts.OpenAi;
using Dynamo.Runtime.Observability;
using Dynamo.Runtime.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Dynamo.Worker;

/// <summary>
/// The worker's door: every request must carry a valid <see cref="ClusterSecret.HttpHeader"/> credential made with the
/// deployment's cluster secret (<see cref="ClusterSecret"/> describes it), except <c>GET</c>/<c>HEAD</c> of exactly
/// <c>/live</c>, <c>/health</c> and <c>/metrics</c>. Those stay open because orchestrators' probes and Prometheus
/// scrapers cannot sign requests, and they carry no user data and change nothing. Everything else, the generation
/// endpoints (and with them every <c>kv_transfer_params</c>), <c>/v1/models</c>, <c>/load</c>, <c>/v1/kv/events</c>,
/// <c>/v1/kv/dump</c> and unknown paths, answers 401 with an OpenAI-shaped body without one.
/// </summary>
internal sealed class ClusterAuthentication(ClusterSecret secret, WorkerMetrics metrics, TimeProvider time, ILogger logger)
{
    private static readonly string[] OpenPaths = ["/live", "/health", "/metrics"];
    private const int LoggedPathLength = 100;

    private readonly LogThrottle _throttle = new(TimeSpan.FromMinutes(1), time);

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if ((HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)) && IsOpen(request.Path.Value))
        {
            return next(context);
        }

        var path = (request.PathBase + request.Path).ToUriComponent();
        var check = secret.VerifyHttpCredential(request.Headers[ClusterSecret.HttpHeader].ToString(), request.Method, path, time.GetUtcNow());
        if (check == ClusterCredentialCheck.Valid)
        {
            return next(context);
        }

        var reason = check.ToString().ToLowerInvariant();
        metrics.Unauthenticated(reason);
        var remote = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        if (_throttle.ShouldLog(remote + " " + reason, out var skipped))
        {
            WorkerLog.Unauthenticated(logger, request.Method, path.Length > LoggedPathLength ? path[..LoggedPathLength] + "…" : path, remote, reason, skipped);
        }

        context.Response.Headers.WWWAuthenticate = "DynamoCluster";
        return HttpErrors.WriteAsync(context, Refusal(check));
    }

    private static bool IsOpen(string? path)
    {
        foreach (var open in OpenPaths)
        {
            if (string.Equals(path, open, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static OpenAiException Refusal(ClusterCredentialCheck check) => check switch
    {
        ClusterCredentialCheck.Missing => new(
            401,
            $"This worker serves only the frontends of its deployment and the request has no {ClusterSecret.HttpHeader} credential; send requests to the frontend.",
            "invalid_request_error",
            code: "cluster_credential_missing"),
        ClusterCredentialCheck.Expired => new(
            401,
            $"The {ClusterSecret.HttpHeader} credential's time is more than {ClusterSecret.MaxClockSkew.TotalSeconds:F0} s from this worker's clock; synchronize the machines' clocks (NTP).",
            "invalid_request_error",
            code: "cluster_credential_expired"),
        _ => new(
            401,
            $"The {ClusterSecret.HttpHeader} credential is not valid here: it was made with another cluster secret (compare the fingerprints the frontend and the worker log at start) or for another request.",
            "invalid_request_error",
            code: "cluster_credential_invalid"),
    };
}
