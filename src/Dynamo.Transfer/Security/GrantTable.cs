using System.Buffers.Binary;
using System.Collections.Concurrent;
using Dynamo.Transfer.Memory;

namespace Dynamo.Transfer.Security;

/// <summary>
/// The grants an agent has issued and not revoked, and the check every peer request goes through on the serving
/// side (TCP listener, in-process copy) once its ranges are known to lie in registered regions.
/// </summary>
internal sealed class GrantTable
{
    private readonly ConcurrentDictionary<ulong, TransferGrant> _grants = new();

    public int Count => _grants.Count;

    public TransferGrant Issue(ReadOnlySpan<TransferDescriptor> merged, ReadOnlySpan<byte> binding)
    {
        var ranges = merged.ToArray();
        Array.Sort(ranges, static (a, b) => a.Region != b.Region ? a.Region.CompareTo(b.Region) : a.Address.CompareTo(b.Address));
        while (true)
        {
            var grant = new TransferGrant(ranges, binding);
            if (_grants.TryAdd(grant.LookupId, grant))
            {
                return grant;
            }
        }
    }

    public bool Revoke(ReadOnlySpan<byte> token)
    {
        if (token.Length != TransferGrant.TokenBytes)
        {
            return false;
        }

        var id = BinaryPrimitives.ReadUInt64LittleEndian(token);
        return _grants.TryGetValue(id, out var grant) && grant.TokenEquals(token) && _grants.TryRemove(new KeyValuePair<ulong, TransferGrant>(id, grant));
    }

    public void Clear() => _grants.Clear();

    /// <summary>
    /// Checks a peer's request. Without a credential, allowed unless a leased region requires grants. With one, the
    /// token must name a live, unused grant (compared in constant time), the binding must be the grant's, the request
    /// a READ, and every descriptor inside the grant's ranges; the grant is then used up. Null when allowed, else why not.
    /// </summary>
    public string? Authorize(ReadOnlySpan<TransferDescriptor> requested, RemoteAccess access, ReadOnlySpan<byte> credential, LeaseSet leases)
    {
        if (credential.IsEmpty)
        {
            for (var i = 0; i < leases.Count; i++)
            {
                if (leases[i].RequiresGrant)
                {
                    return $"{leases[i]} is readable only with a transfer token, and the request carries none";
                }
            }

            return null;
        }

        if (credential.Length < TransferGrant.TokenBytes || credential.Length > TransferGrant.TokenBytes + TransferGrant.MaxBindingBytes)
        {
            return $"a credential of {credential.Length} bytes is malformed";
        }

        var token = credential[..TransferGrant.TokenBytes];
        var binding = credential[TransferGrant.TokenBytes..];
        _grants.TryGetValue(BinaryPrimitives.ReadUInt64LittleEndian(token), out var grant);
        if (grant is null || !grant.TokenEquals(token))
        {
            return "unknown, expired or released transfer token";
        }

        if (access != RemoteAccess.Read)
        {
            return "a transfer token allows reads only";
        }

        if (!grant.BindingEquals(binding))
        {
            return "the transfer token was issued for other prompt tokens";
        }

        if (!grant.Covers(requested, out var outside))
        {
            return $"descriptor {outside} lies outside the ranges pinned for this transfer token";
        }

        return grant.TryUse() ? null : "the transfer token was used already";
    }
}
