using Dynamo.Transfer.Memory;

namespace Dynamo.Transfer.Metadata;

/// <summary>One registered region as peers see it: where it is in the owner's address space and its backend keys.</summary>
public sealed record RegionMetadata
{
    public required int Id { get; init; }

    public required ulong Address { get; init; }

    public required ulong Length { get; init; }

    public RemoteAccess Access { get; init; } = RemoteAccess.ReadWrite;

    public IReadOnlyList<RegionKey> Keys { get; init; } = [];

    /// <summary>The bytes <paramref name="offset"/>..+<paramref name="length"/> of the region as a remote descriptor.</summary>
    public TransferDescriptor Describe(ulong offset, ulong length)
    {
        if (length == 0 || offset > Length || length > Length - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"range {offset}+{length} is outside remote region {Id} of {Length} bytes");
        }

        return new TransferDescriptor(Id, Address + offset, length);
    }

    internal bool Contains(in TransferDescriptor d) =>
        d.Region == Id && d.Length > 0 && d.Address >= Address && d.End <= Address + Length;

    internal byte[]? KeyFor(TransferBackendKind kind)
    {
        foreach (var k in Keys)
        {
            if (k.Kind == kind)
            {
                return k.Key;
            }
        }

        return null;
    }
}
