using Dynamo.Transfer.Memory;

namespace Dynamo.Transfer.Backends;

/// <summary>
/// Pairs two descriptor lists of equal total length into segments contiguous on both sides: the boundaries are the
/// union of both lists' boundaries, so merged lists give the fewest segments. Used by backends that move one
/// (local range, remote range) pair per operation: UCX get/put and the in-process copy.
/// </summary>
internal ref struct SegmentWalker(ReadOnlySpan<TransferDescriptor> local, ReadOnlySpan<TransferDescriptor> remote)
{
    private readonly ReadOnlySpan<TransferDescriptor> _local = local;
    private readonly ReadOnlySpan<TransferDescriptor> _remote = remote;
    private int _li;
    private int _ri;
    private ulong _lo;
    private ulong _ro;

    public bool Next(out ulong localAddress, out ulong remoteAddress, out ulong length, out int remoteRegion)
    {
        if (_li >= _local.Length || _ri >= _remote.Length)
        {
            localAddress = remoteAddress = length = 0;
            remoteRegion = 0;
            return false;
        }

        var l = _local[_li];
        var r = _remote[_ri];
        length = Math.Min(l.Length - _lo, r.Length - _ro);
        localAddress = l.Address + _lo;
        remoteAddress = r.Address + _ro;
        remoteRegion = r.Region;
        _lo += length;
        _ro += length;
        if (_lo == l.Length)
        {
            _li++;
            _lo = 0;
        }

        if (_ro == r.Length)
        {
            _ri++;
            _ro = 0;
        }

        return true;
    }

    /// <summary>Segments the two lists make, without walking them twice at run time elsewhere.</summary>
    public static int Count(ReadOnlySpan<TransferDescriptor> local, ReadOnlySpan<TransferDescriptor> remote)
    {
        var walker = new SegmentWalker(local, remote);
        var n = 0;
        while (walker.Next(out _, out _, out _, out _))
        {
            n++;
        }

        return n;
    }
}
