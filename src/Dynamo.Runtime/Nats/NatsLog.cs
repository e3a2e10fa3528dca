using Microsoft.Extensions.Logging;

namespace Dynamo.Runtime.Nats;

internal static partial class NatsLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "NATS runtime: {Options}")]
    public static partial void Options(ILogger logger, string options);

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to NATS {Server} (JetStream buckets {DiscoveryBucket}, {TransferBucket})")]
    public static partial void Connected(ILogger logger, string server, string discoveryBucket, string transferBucket);

    [LoggerMessage(Level = LogLevel.Warning, Message = "NATS connection lost ({Reason}); serving on the last-known discovery ({Instances} instances) until it returns")]
    public static partial void Disconnected(ILogger logger, string reason, int instances);

    [LoggerMessage(Level = LogLevel.Information, Message = "NATS connection back after {Seconds:F1} s; resynchronizing discovery")]
    public static partial void Reconnected(ILogger logger, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Discovery synchronized: {Instances} instances in bucket {Bucket}")]
    public static partial void Synchronized(ILogger logger, int instances, string bucket);

    [LoggerMessage(Level = LogLevel.Information, Message = "Registered {InstanceId} ({Role}, model '{Model}') at {Address}; lease {LeaseTtl}")]
    public static partial void Registered(ILogger logger, string instanceId, Contracts.WorkerRole role, string model, Uri address, TimeSpan leaseTtl);

    [LoggerMessage(Level = LogLevel.Information, Message = "Unregistered {InstanceId}")]
    public static partial void Unregistered(ILogger logger, string instanceId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove {InstanceId} from discovery; it leaves within its lease")]
    public static partial void UnregisterFailed(ILogger logger, string instanceId, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Instance {InstanceId} joined ({Role}, model '{Model}') at {Address}")]
    public static partial void InstanceAdded(ILogger logger, string instanceId, Contracts.WorkerRole role, string model, Uri address);

    [LoggerMessage(Level = LogLevel.Information, Message = "Instance {InstanceId} left ({Reason})")]
    public static partial void InstanceRemoved(ILogger logger, string instanceId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat of {InstanceId} failed; retrying")]
    public static partial void HeartbeatFailed(ILogger logger, string instanceId, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Heartbeats of {InstanceId} resumed; its registration is back in discovery")]
    public static partial void HeartbeatResumed(ILogger logger, string instanceId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Discovery watch on {Bucket} stopped; restarting")]
    public static partial void WatchFailed(ILogger logger, string bucket, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Discovery watch on {Bucket} made no progress for {Seconds:F1} s before delivering the bucket's contents; watching afresh")]
    public static partial void WatchStalled(ILogger logger, string bucket, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored discovery entry {Key}: not a registration")]
    public static partial void BadEntry(ILogger logger, string key, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "A discovery change handler threw; handlers must not throw")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored message on {Subject}: it does not deserialize as {Type}")]
    public static partial void BadEvent(ILogger logger, string subject, string type, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored discovery record {Key} (instance {InstanceId} at {Address}): {Reason}; only holders of the cluster secret can register ({Skipped} more from that key since the last line)")]
    public static partial void RejectedRecord(ILogger logger, string key, string instanceId, string address, string reason, long skipped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored message on {Subject}: {Reason}; only holders of the cluster secret can publish events ({Skipped} more on that subject since the last line)")]
    public static partial void RejectedEvent(ILogger logger, string subject, string reason, long skipped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored transfer metadata {Key}: {Reason}; only holders of the cluster secret can publish it ({Skipped} more for that key since the last line)")]
    public static partial void RejectedMetadata(ILogger logger, string key, string reason, long skipped);
}
