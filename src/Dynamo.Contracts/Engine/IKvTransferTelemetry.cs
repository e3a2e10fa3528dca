namespace Dynamo.Contracts.Engine;

/// <summary>
/// An engine that takes part in disaggregated serving reports each decode request's prompt: read from a prefill
/// worker (bytes moved, time the read took) or computed locally after all, and why. The worker turns these into
/// its metrics; the event is raised on the engine's threads and must not block.
/// </summary>
public interface IKvTransferTelemetry
{
    event Action<KvTransferRecord>? KvTransferDone;
}

/// <summary>One remote prefill's outcome: <see cref="FallbackReason"/> is null when the KV was read.</summary>
public readonly record struct KvTransferRecord(long Bytes, TimeSpan Elapsed, string? FallbackReason)
{
    public bool IsRemote => FallbackReason is null;
}
