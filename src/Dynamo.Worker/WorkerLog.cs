using Dynamo.Contracts;
using Microsoft.Extensions.Logging;

namespace Dynamo.Worker;

internal static partial class WorkerLog
{
    [LoggerMessage(1, LogLevel.Information, "Worker {InstanceId} ({Role}) serving '{Model}' on {Address} (engine {EngineKind}, {TotalKvBlocks} KV blocks of {BlockSize} tokens, context {MaxContextLength})")]
    public static partial void Started(ILogger logger, string instanceId, WorkerRole role, string model, Uri address, string engineKind, int totalKvBlocks, int blockSize, int maxContextLength);

    [LoggerMessage(2, LogLevel.Information, "Worker {InstanceId} draining: unregistered, waiting up to {DrainTimeout} for {Inflight} in-flight requests")]
    public static partial void Draining(ILogger logger, string instanceId, TimeSpan drainTimeout, int inflight);

    [LoggerMessage(3, LogLevel.Warning, "Worker {InstanceId} drain timed out after {DrainTimeout}; cancelling {Inflight} in-flight requests")]
    public static partial void DrainTimedOut(ILogger logger, string instanceId, TimeSpan drainTimeout, int inflight);

    [LoggerMessage(4, LogLevel.Information, "Worker {InstanceId} stopped")]
    public static partial void Stopped(ILogger logger, string instanceId);

    [LoggerMessage(5, LogLevel.Error, "Request {RequestId} failed")]
    public static partial void RequestFailed(ILogger logger, Exception exception, string requestId);

    [LoggerMessage(6, LogLevel.Information, "Request {RequestId}: {Sequences} sequences, {PromptTokens} prompt tokens ({CachedTokens} cached), {CompletionTokens} completion tokens")]
    public static partial void RequestCompleted(ILogger logger, string requestId, int sequences, int promptTokens, int cachedTokens, int completionTokens);

    [LoggerMessage(7, LogLevel.Information, "Request {RequestId} rejected with {StatusCode}: {Message}")]
    public static partial void RequestRejected(ILogger logger, string requestId, int statusCode, string message);

    [LoggerMessage(8, LogLevel.Information, "Worker options: Host={Host} Port={Port} AdvertisedHost={AdvertisedHost} Role={Role} InstanceId={InstanceId} ServedModelName={ServedModelName} DrainTimeout={DrainTimeout} LoadReportInterval={LoadReportInterval} RequestLimits={RequestLimits}")]
    public static partial void Options(ILogger logger, string host, int port, string? advertisedHost, WorkerRole role, string instanceId, string servedModelName, TimeSpan drainTimeout, TimeSpan loadReportInterval, object requestLimits);

    [LoggerMessage(20, LogLevel.Warning, "Request {RequestId}: kv_transfer_params ignored ({Problem}); serving the request whole")]
    public static partial void KvTransferParamsIgnored(ILogger logger, string requestId, string problem);

    [LoggerMessage(21, LogLevel.Warning, "Refused {Method} {Path} from {Remote}: cluster credential {Reason} ({Skipped} more refused from there since the last line)")]
    public static partial void Unauthenticated(ILogger logger, string method, string path, string remote, string reason, long skipped);

    [LoggerMessage(22, LogLevel.Information, "Worker {InstanceId} accepts requests only with the cluster credential of secret {Fingerprint} (open: GET /live, /health, /metrics)")]
    public static partial void ClusterAuthentication(ILogger logger, string instanceId, string fingerprint);
}
