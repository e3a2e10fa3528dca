using Dynamo.Transfer.Memory;

namespace Dynamo.Transfer.Backends;

/// <summary>
/// A validated transfer handed to a backend: merged local and remote descriptors (every local one inside a region
/// the agent holds a lease on, every remote one inside a region of the peer's metadata) with equal totals.
/// </summary>
internal sealed class TransferJob
{
    public required TransferOperation Operation { get; init; }

    public required RemotePeer Peer { get; init; }

    public required TransferDescriptor[] Local { get; init; }

    public required int LocalCount { get; init; }

    public required TransferDescriptor[] Remote { get; init; }

    public required int RemoteCount { get; init; }

    public required long Bytes { get; init; }

    /// <summary>Delivered to the peer after the data (empty: none).</summary>
    public byte[]? Notification { get; init; }

    /// <summary>Presented to the serving side with the request (null: none).</summary>
    public Security.TransferCredential? Credential { get; init; }

    public ReadOnlySpan<TransferDescriptor> LocalSpan => Local.AsSpan(0, LocalCount);

    public ReadOnlySpan<TransferDescriptor> RemoteSpan => Remote.AsSpan(0, RemoteCount);
}
