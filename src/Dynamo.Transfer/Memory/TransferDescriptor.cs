namespace Dynamo.Transfer.Memory;

/// <summary>
/// A byte range inside one registered region (NIXL's <c>nixlBlobDesc</c>: address, length, and here the region it
/// must lie in). Addresses are the owning process's virtual addresses; the region id says which registration
/// vouches for them, so a range is checked against that region before any byte moves.
/// </summary>
public readonly record struct TransferDescriptor(int Region, ulong Address, ulong Length)
{
    /// <summary>One past the last byte; saturates instead of wrapping so an overflowing descriptor fails range checks.</summary>
    public ulong End => Address + Length < Address ? ulong.MaxValue : Address + Length;

    /// <summary>True when <paramref name="next"/> starts where this one ends, in the same region.</summary>
    public bool IsFollowedBy(TransferDescriptor next) => next.Region == Region && Address + Length == next.Address && Length != 0;

    public override string ToString() => $"[region {Region} 0x{Address:x}+{Length}]";
}
