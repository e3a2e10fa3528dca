using Dynamo.Transfer.Memory;
using Dynamo.Transfer.Metadata;

namespace Dynamo.Transfer.Backends.InProcess;

/// <summary>
/// Peers in the same process (<c>serve</c> with every worker in one process): a memory copy. The peer's ranges are
/// leased from the peer agent's own region table and authorized against its grants, so a descriptor the peer never
/// registered, deregistered since its metadata was published, or did not grant this read, fails instead of touching memory.
/// </summary>
internal sealed class InProcessBackend : TransferBackend
{
    /// <summary>Copies are cut into chunks of this size so cancellation and timeouts are honoured within a chunk.</summary>
    private const ulong ChunkBytes = 8 * 1024 * 1024;

    /// <summary>Transfers up to this size run on the poster's thread; larger ones go to the thread pool.</summary>
    private const long InlineBytes = 256 * 1024;

    private readonly TransferAgent _agent;

    public InProcessBackend(TransferAgent agent)
        : base(TransferBackendKind.InProcess, 10e9, TimeSpan.FromMicroseconds(2))
    {
        _agent = agent;
        InProcessFabric.Add(agent);
    }

    public override BackendEndpoint Endpoint { get; } = new(TransferBackendKind.InProcess, []);

    public override bool CanReach(AgentMetadata metadata) =>
        metadata.ProcessId == Environment.ProcessId && metadata.EndpointFor(TransferBackendKind.InProcess) is not null;

    public override async ValueTask<TransferOutcome> TransferAsync(TransferJob job, CancellationToken cancellationToken)
    {
        var peer = InProcessFabric.Find(job.Peer.Incarnation);
        if (peer is null)
        {
            return TransferOutcome.Fail(TransferErrorKind.StaleMetadata, $"agent '{job.Peer.Name}' ({job.Peer.Incarnation:N}) is no longer in this process");
        }

        if (peer.Stopping.IsCancellationRequested)
        {
            return TransferOutcome.Fail(TransferErrorKind.PeerDisconnected, $"agent '{peer.Name}' is stopping");
        }

        var leases = new LeaseSet();
        var access = job.Operation == TransferOperation.Read ? RemoteAccess.Read : RemoteAccess.Write;
        var credential = job.Credential is { } c ? Credential(c) : [];
        var error = peer.AuthorizeRemote(job.RemoteSpan, access, credential, leases, _agent.Name, Kind, out var message);
        if (error != TransferErrorKind.None)
        {
            return TransferOutcome.Fail(error, $"agent '{peer.Name}' refused: {message}");
        }

        try
        {
            if (job.Bytes > InlineBytes)
            {
                await Task.Yield();
            }

            if (!Copy(job, peer, leases, cancellationToken))
            {
                return cancellationToken.IsCancellationRequested
                    ? TransferOutcome.Fail(TransferErrorKind.Cancelled, "cancelled")
                    : TransferOutcome.Fail(TransferErrorKind.PeerDisconnected, $"agent '{peer.Name}' stopped or deregistered the region during the copy");
            }
        }
        finally
        {
            leases.ReleaseAll();
        }

        if (job.Notification is { } note)
        {
            peer.Deliver(_agent.Name, note);
        }

        return TransferOutcome.Success;
    }

    private static byte[] Credential(Security.TransferCredential credential)
    {
        var bytes = new byte[credential.WireLength];
        credential.WriteTo(bytes);
        return bytes;
    }

    private static unsafe bool Copy(TransferJob job, TransferAgent peer, LeaseSet peerLeases, CancellationToken cancellationToken)
    {
        var walker = new SegmentWalker(job.LocalSpan, job.RemoteSpan);
        var read = job.Operation == TransferOperation.Read;
        while (walker.Next(out var localAddress, out var remoteAddress, out var length, out _))
        {
            var source = read ? remoteAddress : localAddress;
            var destination = read ? localAddress : remoteAddress;
            for (ulong done = 0; done < length; done += ChunkBytes)
            {
                if (cancellationToken.IsCancellationRequested || peer.Stopping.IsCancellationRequested || AnyRevoked(peerLeases))
                {
                    return false;
                }

                var n = Math.Min(ChunkBytes, length - done);
                Buffer.MemoryCopy((void*)(nuint)(source + done), (void*)(nuint)(destination + done), n, n);
            }
        }

        return true;
    }

    private static bool AnyRevoked(LeaseSet leases)
    {
        for (var i = 0; i < leases.Count; i++)
        {
            if (!leases[i].IsRegistered)
            {
                return true;
            }
        }

        return false;
    }

    public override ValueTask<TransferOutcome> NotifyAsync(RemotePeer peer, byte[] message, CancellationToken cancellationToken)
    {
        var target = InProcessFabric.Find(peer.Incarnation);
        if (target is null)
        {
            return ValueTask.FromResult(TransferOutcome.Fail(TransferErrorKind.StaleMetadata, $"agent '{peer.Name}' ({peer.Incarnation:N}) is no longer in this process"));
        }

        target.Deliver(_agent.Name, message);
        return ValueTask.FromResult(TransferOutcome.Success);
    }

    public override ValueTask StopAsync()
    {
        InProcessFabric.Remove(_agent);
        return ValueTask.CompletedTask;
    }

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
