using System.Collections.Concurrent;

namespace Dynamo.Transfer.Memory;

/// <summary>
/// This agent's registered regions by id. Both sides of a transfer check ranges here: the agent for local
/// descriptors on posting, the backends for ranges a peer asks to read or write, before touching memory.
/// </summary>
internal sealed class RegionTable
{
    private readonly ConcurrentDictionary<int, MemoryRegion> _regions = new();
    private int _nextId;

    public int NextId() => Interlocked.Increment(ref _nextId);

    public void Add(MemoryRegion region) => _regions[region.Id] = region;

    public bool Remove(MemoryRegion region) => _regions.TryRemove(new KeyValuePair<int, MemoryRegion>(region.Id, region));

    public ICollection<MemoryRegion> All => _regions.Values;

    /// <summary>True when <paramref name="d"/> lies inside a registered region.</summary>
    public bool Contains(in TransferDescriptor d) => _regions.TryGetValue(d.Region, out var region) && region.IsRegistered && region.Contains(d);

    /// <summary>
    /// Leases the regions every descriptor lies in. <paramref name="remoteAccess"/> is what a peer asks for
    /// (None for the agent's own use). On failure nothing stays leased.
    /// </summary>
    public TransferErrorKind TryLease(ReadOnlySpan<TransferDescriptor> descriptors, RemoteAccess remoteAccess, LeaseSet leases, out string? message)
    {
        foreach (var d in descriptors)
        {
            if (!_regions.TryGetValue(d.Region, out var region) || !region.IsRegistered)
            {
                leases.ReleaseAll();
                message = $"descriptor {d} names region {d.Region}, which is not registered with this agent";
                return TransferErrorKind.UnregisteredMemory;
            }

            if (!region.Contains(d))
            {
                leases.ReleaseAll();
                message = $"descriptor {d} is empty or lies outside {region}";
                return TransferErrorKind.InvalidDescriptor;
            }

            if ((region.Access & remoteAccess) != remoteAccess)
            {
                leases.ReleaseAll();
                message = $"{region} does not allow remote {remoteAccess}";
                return TransferErrorKind.AccessDenied;
            }

            if (!leases.Contains(region))
            {
                if (!region.TryAcquire())
                {
                    leases.ReleaseAll();
                    message = $"{region} is being deregistered";
                    return TransferErrorKind.UnregisteredMemory;
                }

                leases.Add(region);
            }
        }

        message = null;
        return TransferErrorKind.None;
    }
}
