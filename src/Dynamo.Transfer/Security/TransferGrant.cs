using System.Security.Cryptography;
using Dynamo.Transfer.Memory;

namespace Dynamo.Transfer.Security;

/// <summary>
/// Permission for one peer read of exactly some ranges of this agent's memory (a prefill's pinned KV blocks), issued
/// by <see cref="TransferAgent.IssueGrant"/>. The reader presents <see cref="Token"/> and the binding the grant was
/// issued for (a digest of the prompt tokens the blocks hold) as a <see cref="TransferCredential"/>; the serving side
/// (TCP listener, in-process copy) checks both in constant time, checks every range it is asked for against
/// <see cref="Ranges"/>, and allows one read. Revoke it (<see cref="TransferAgent.RevokeGrant"/>) before the ranges
/// are reused.
/// </summary>
public sealed class TransferGrant
{
    /// <summary>Bytes in a token: 8 to look the grant up by, 24 (192 bits) that only the issuer and the reader know.</summary>
    public const int TokenBytes = 32;

    /// <summary>Largest binding: a SHA-512 digest.</summary>
    public const int MaxBindingBytes = 64;

    private readonly byte[] _token;
    private readonly byte[] _binding;
    private int _used;

    internal TransferGrant(TransferDescriptor[] ranges, ReadOnlySpan<byte> binding)
    {
        _token = TokenSource.Next(TokenBytes);
        _binding = binding.ToArray();
        Ranges = ranges;
    }

    /// <summary>Looks the grant up; not secret (a timing side channel on it reveals nothing the token's other 24 bytes protect).</summary>
    internal ulong LookupId => System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(_token);

    /// <summary>The secret the reader presents; from a CSPRNG. Never log it.</summary>
    public ReadOnlyMemory<byte> Token => _token;

    /// <summary>Merged ranges, sorted by region and address: a read must lie inside them.</summary>
    internal TransferDescriptor[] Ranges { get; }

    internal bool IsUsed => Volatile.Read(ref _used) != 0;

    /// <summary>A credential for this grant and <paramref name="binding"/> (what a reader in this process presents).</summary>
    public TransferCredential CredentialFor(ReadOnlySpan<byte> binding) => new(_token, binding.ToArray());

    internal bool TokenEquals(ReadOnlySpan<byte> token) => CryptographicOperations.FixedTimeEquals(_token, token);

    internal bool BindingEquals(ReadOnlySpan<byte> binding) => CryptographicOperations.FixedTimeEquals(_binding, binding);

    /// <summary>True when every descriptor lies inside one of <see cref="Ranges"/>.</summary>
    internal bool Covers(ReadOnlySpan<TransferDescriptor> requested, out TransferDescriptor outside)
    {
        foreach (var d in requested)
        {
            if (!Covers(d))
            {
                outside = d;
                return false;
            }
        }

        outside = default;
        return true;
    }

    private bool Covers(in TransferDescriptor d)
    {
        // The last range starting at or before d.
        int lo = 0, hi = Ranges.Length - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var r = Ranges[mid];
            if (r.Region < d.Region || (r.Region == d.Region && r.Address <= d.Address))
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        if (found < 0)
        {
            return false;
        }

        var range = Ranges[found];
        return range.Region == d.Region && d.Length > 0 && d.Address >= range.Address && d.End <= range.End;
    }

    /// <summary>Marks the grant used; false when a read already used it.</summary>
    internal bool TryUse() => Interlocked.Exchange(ref _used, 1) == 0;
}
