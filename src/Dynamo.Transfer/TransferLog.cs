using Microsoft.Extensions.Logging;

namespace Dynamo.Transfer;

internal static partial class TransferLog
{
    [LoggerMessage(1, LogLevel.Information, "Transfer agent {Name} ({Incarnation}) started with backends {Backends}")]
    public static partial void Started(ILogger logger, string name, Guid incarnation, string backends);

    [LoggerMessage(2, LogLevel.Warning, "Transfer agent {Name}: backend {Backend} not started: {Reason}")]
    public static partial void BackendSkipped(ILogger logger, string name, TransferBackendKind backend, string reason);

    [LoggerMessage(3, LogLevel.Warning, "Transfer {Id} {Operation} of {Bytes} B with {Peer} over {Backend} failed ({Error}): {Message}")]
    public static partial void TransferFailed(ILogger logger, long id, TransferOperation operation, long bytes, string peer, string backend, TransferErrorKind error, string? message);

    [LoggerMessage(4, LogLevel.Information, "Transfer agent {Name}: loaded metadata of {Peer} ({Incarnation}, {Regions} regions), reached over {Backend}")]
    public static partial void PeerLoaded(ILogger logger, string name, string peer, Guid incarnation, int regions, TransferBackendKind backend);

    [LoggerMessage(5, LogLevel.Warning, "Transfer agent {Name}: metadata of {Peer} ({Incarnation}) is stale (the peer restarted); dropped until it is loaded again")]
    public static partial void PeerStale(ILogger logger, string name, string peer, Guid incarnation);

    [LoggerMessage(6, LogLevel.Warning, "Transfer agent {Name}: deregistering {Region} has waited {Waited} for transfers to end")]
    public static partial void SlowDeregister(ILogger logger, string name, string region, TimeSpan waited);

    [LoggerMessage(7, LogLevel.Warning, "Transfer agent {Name}: notification to {Peer} failed ({Error}): {Message}")]
    public static partial void NotifyFailed(ILogger logger, string name, string peer, TransferErrorKind error, string? message);

    [LoggerMessage(8, LogLevel.Warning, "Transfer agent {Name}: rejected a request from {Peer} over {Backend} ({Error}): {Message}")]
    public static partial void RejectedRemote(ILogger logger, string name, string peer, TransferBackendKind backend, TransferErrorKind error, string? message);

    [LoggerMessage(9, LogLevel.Debug, "Transfer agent {Name}: {Backend} connection from {Remote} closed: {Reason}")]
    public static partial void ConnectionClosed(ILogger logger, string name, TransferBackendKind backend, string remote, string reason);

    [LoggerMessage(10, LogLevel.Error, "Transfer agent {Name}: unexpected {Backend} error in transfer {Id}")]
    public static partial void BackendCrashed(ILogger logger, Exception exception, string name, TransferBackendKind backend, long id);

    [LoggerMessage(11, LogLevel.Warning, "Transfer agent {Name}: refused a request from {Peer} over {Backend}: {Reason} (further refusals are logged at debug level; every one is counted)")]
    public static partial void RefusedFirst(ILogger logger, string name, string peer, TransferBackendKind backend, string reason);

    [LoggerMessage(12, LogLevel.Debug, "Transfer agent {Name}: refused a request from {Peer} over {Backend}: {Reason}")]
    public static partial void Refused(ILogger logger, string name, string peer, TransferBackendKind backend, string reason);
}
