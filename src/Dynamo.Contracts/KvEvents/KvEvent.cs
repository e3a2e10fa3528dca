namespace Dynamo.Contracts.KvEvents;

public enum StorageTier
{
    Device,
    Host,
    Disk,
}

/// <summary>
/// A change to one worker's KV cache. <see cref="EventId"/> is monotonic per worker, so a router that sees
/// a gap asks for a replay of the missing range.
/// </summary>
public sealed record KvEvent(string WorkerId, long EventId, StorageTier Tier, KvEventData Data);

/// <summary>Stored, Removed or Cleared.</summary>
public abstract record KvEventData;

/// <summary>A full block whose chained sequence hash is <see cref="SeqHash"/> and whose own tokens hash to <see cref="TokensHash"/>.</summary>
public readonly record struct StoredBlock(ulong SeqHash, ulong TokensHash);

/// <summary>Blocks stored in prefix order; <see cref="ParentHash"/> is the sequence hash of the block before the first one.</summary>
public sealed record KvStored(ulong? ParentHash, IReadOnlyList<StoredBlock> Blocks) : KvEventData;

public sealed record KvRemoved(IReadOnlyList<ulong> SeqHashes) : KvEventData;

public sealed record KvCleared : KvEventData;
