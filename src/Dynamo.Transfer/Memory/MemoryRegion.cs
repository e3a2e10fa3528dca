namespace Dynamo.Transfer.Memory;

/// <summary>
/// A range of this process's memory registered with a <see cref="TransferAgent"/> (NIXL's <c>registerMem</c>).
/// Transfers only touch registered ranges: local descriptors are checked against these on posting, and requests
/// from peers are checked against them before a byte is served or written. The caller owns the memory and must keep
/// it alive until <see cref="Dispose"/> returns; disposing cancels transfers still using the region and waits for them.
/// </summary>
public sealed class MemoryRegion : IDisposable
{
    private readonly Action<MemoryRegion> _deregister;
    private readonly CancellationTokenSource _revoked = new();
    private readonly ManualResetEventSlim _drained = new(false);
    private int _leases;
    private int _isRevoked;

    internal MemoryRegion(int id, nint address, long length, RemoteAccess access, bool requiresGrant, Action<MemoryRegion> deregister)
    {
        Id = id;
        Address = address;
        Length = length;
        Access = access;
        RequiresGrant = requiresGrant;
        _deregister = deregister;
    }

    /// <summary>Unique among this agent's registrations; descriptors name it.</summary>
    public int Id { get; }

    public nint Address { get; }

    public long Length { get; }

    public RemoteAccess Access { get; }

    /// <summary>
    /// Peers may touch the region only with a <see cref="Security.TransferCredential"/> for a grant covering what they
    /// ask for (<see cref="TransferAgent.IssueGrant"/>). Checked by the serving side of TCP and in-process transfers;
    /// UCX's one-sided reads bypass it (see the README's Safety section).
    /// </summary>
    public bool RequiresGrant { get; }

    public bool IsRegistered => Volatile.Read(ref _isRevoked) == 0;

    /// <summary>Backend-specific remote keys (UCX packed rkey), published in the agent's metadata.</summary>
    internal Dictionary<TransferBackendKind, byte[]> RemoteKeys { get; } = [];

    /// <summary>Backend-specific registration handle (UCX <c>ucp_mem_h</c>).</summary>
    internal nint UcxMemoryHandle { get; set; }

    internal CancellationToken Revoked => _revoked.Token;

    /// <summary>The bytes <paramref name="offset"/>..+<paramref name="length"/> of this region as a descriptor.</summary>
    public TransferDescriptor Describe(long offset, long length)
    {
        if (offset < 0 || length <= 0 || offset > Length - length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"range {offset}+{length} is outside region {Id} of {Length} bytes");
        }

        return new TransferDescriptor(Id, (ulong)Address + (ulong)offset, (ulong)length);
    }

    /// <summary>True when the whole of <paramref name="d"/> lies in this region.</summary>
    internal bool Contains(in TransferDescriptor d) =>
        d.Region == Id && d.Length > 0 && d.Address >= (ulong)Address && d.End <= (ulong)Address + (ulong)Length;

    /// <summary>Holds the region registered until <see cref="Release"/>; false once deregistration has begun.</summary>
    internal bool TryAcquire()
    {
        Interlocked.Increment(ref _leases);
        if (Volatile.Read(ref _isRevoked) != 0)
        {
            Release();
            return false;
        }

        return true;
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _leases) == 0 && Volatile.Read(ref _isRevoked) != 0)
        {
            _drained.Set();
        }
    }

    /// <summary>Stops new leases, cancels the ones held, and waits until they are all released.</summary>
    internal void Revoke(Action onRevoked, Action<TimeSpan> onSlowDrain)
    {
        if (Interlocked.Exchange(ref _isRevoked, 1) != 0)
        {
            return;
        }

        _revoked.Cancel();
        onRevoked();
        if (Volatile.Read(ref _leases) == 0)
        {
            _drained.Set();
        }

        // Every backend ends a cancelled transfer promptly (sockets closed, UCX endpoints force-closed), so this wait
        // is short; it is unbounded because returning early would let the caller free memory a transfer still uses.
        var waited = TimeSpan.Zero;
        var step = TimeSpan.FromSeconds(5);
        while (!_drained.Wait(step))
        {
            waited += step;
            onSlowDrain(waited);
        }
    }

    public void Dispose() => _deregister(this);

    public override string ToString() => $"region {Id} 0x{Address:x}+{Length} ({Access}{(RequiresGrant ? ", granted reads only" : "")})";
}
