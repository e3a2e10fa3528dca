using Dynamo.Transfer.Memory;
using Dynamo.Transfer.Metadata;

namespace Dynamo.Transfer.Backends;

/// <summary>
/// One way of moving bytes (NIXL's backend plugin). The agent validates every transfer before handing it over, so a
/// backend sees only descriptors inside leased local regions and inside the peer's published regions. A backend
/// ends every transfer, including cancelled ones, with an outcome and without touching local memory afterwards.
/// </summary>
internal abstract class TransferBackend : IAsyncDisposable
{
    protected TransferBackend(TransferBackendKind kind, double defaultBytesPerSecond, TimeSpan defaultLatency)
    {
        Kind = kind;
        Cost = new CostModel(defaultBytesPerSecond, defaultLatency);
    }

    public TransferBackendKind Kind { get; }

    /// <summary>What peers need to reach this backend; published in the agent's metadata.</summary>
    public abstract BackendEndpoint Endpoint { get; }

    public CostModel Cost { get; }

    /// <summary>Registers a region with the backend; returns the key peers need for it, or null when the backend needs none.</summary>
    public virtual byte[]? RegisterRegion(MemoryRegion region) => null;

    /// <summary>Undoes <see cref="RegisterRegion"/>; called once no transfer holds the region.</summary>
    public virtual void DeregisterRegion(MemoryRegion region)
    {
    }

    /// <summary>A region's deregistration has begun (transfers using it are cancelled); the backend lets go of it.</summary>
    public virtual void OnRegionRevoked(MemoryRegion region)
    {
    }

    /// <summary>True when this backend can reach the agent described by <paramref name="metadata"/>.</summary>
    public abstract bool CanReach(AgentMetadata metadata);

    /// <summary>Moves the bytes. Cancellation ends it promptly with any outcome; the agent reports why it was cancelled.</summary>
    public abstract ValueTask<TransferOutcome> TransferAsync(TransferJob job, CancellationToken cancellationToken);

    public abstract ValueTask<TransferOutcome> NotifyAsync(RemotePeer peer, byte[] message, CancellationToken cancellationToken);

    /// <summary>Drops connections and keys held for a peer incarnation (stale metadata, peer removed).</summary>
    public virtual void ForgetPeer(string name, Guid incarnation)
    {
    }

    /// <summary>Stops serving and moving bytes (the agent is shutting down); registrations are undone after this.</summary>
    public virtual ValueTask StopAsync() => ValueTask.CompletedTask;

    /// <summary>Releases what is left once every region is deregistered.</summary>
    public abstract ValueTask DisposeAsync();
}
