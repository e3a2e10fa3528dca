using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Dynamo.Contracts.KvEvents;
using Dynamo.KvCache;

namespace Dynamo.Router.Indexing;

/// <summary>
/// Which workers hold which KV blocks, per storage tier: the router's prefix index. Keyed by chained sequence hash
/// (design: KV blocks and hashing), so <see cref="Match(ReadOnlySpan{ulong}, ReadOnlySpan{int}, Span{int}, StorageTier)"/>
/// walks a prompt's hashes in order and stops, per worker, at the first block it lacks: the number of leading prompt
/// blocks each worker holds.
/// </summary>
/// <remarks>
/// <para>Why a hash table and not a radix tree: a sequence hash already names its whole prefix (it chains every
/// earlier block), so the tree's path is implicit in the key. One probe per prompt block answers what a tree walk
/// answers, without parent pointers or child maps, and an entry is 16 bytes whatever the number of workers: the key
/// and its holders (a bitset up to 64 workers; past that up to three slots inline, or a pointer to a bitset for a
/// widely held block; see <see cref="BlockTable"/>). The figures in bench/README.md (P3, and the 1,000-worker
/// replay) back this: memory per pair and match latency against the goals.</para>
/// <para>Workers get dense slot numbers (reused after <see cref="RemoveWorker"/>), which index the bitsets.
/// Writes (<see cref="Apply(int, KvEvent)"/>, <see cref="Store"/>, <see cref="Remove"/>, <see cref="Clear"/>,
/// <see cref="RemoveWorker"/>) are serialized by a lock; matches run concurrently with them and never block.</para>
/// </remarks>
public sealed class PrefixIndex
{
    private const int TierCount = 3;

    private readonly Lock _write = new();
    private readonly BlockTable[] _tables = new BlockTable[TierCount];
    private readonly ConcurrentDictionary<string, int> _slots = new(StringComparer.Ordinal);
    private readonly Stack<int> _freeSlots = new();
    private string?[] _workers = new string?[64];
    private long[] _blockCounts = new long[64 * TierCount];
    private int _nextSlot;
    private int _version;

    public PrefixIndex()
    {
        for (var t = 0; t < TierCount; t++)
        {
            _tables[t] = new BlockTable();
        }
    }

    /// <summary>Workers with a slot.</summary>
    public int WorkerCount => _slots.Count;

    /// <summary>One more than the highest slot number in use: the length an overlap span needs.</summary>
    public int SlotLimit => Volatile.Read(ref _nextSlot);

    /// <summary>Distinct blocks held by at least one worker, over all tiers.</summary>
    public long DistinctBlocks
    {
        get
        {
            long total = 0;
            foreach (var table in _tables)
            {
                total += table.Count;
            }

            return total;
        }
    }

    /// <summary>(Block, worker) pairs over all tiers.</summary>
    public long Pairs
    {
        get
        {
            var counts = Volatile.Read(ref _blockCounts);
            long total = 0;
            foreach (var count in counts)
            {
                total += count;
            }

            return total;
        }
    }

    /// <summary>Bytes of the hash tables (the index's memory, less the small per-worker arrays).</summary>
    public long TableBytes
    {
        get
        {
            long total = 0;
            foreach (var table in _tables)
            {
                total += table.Bytes;
            }

            return total;
        }
    }

    /// <summary>
    /// Changes whenever a worker gets or loses a slot: slots a caller looked up (the KV router, per candidate list)
    /// still hold while this is unchanged.
    /// </summary>
    internal int Version => Volatile.Read(ref _version);

    /// <summary>The slot of <paramref name="workerId"/>, adding it when new.</summary>
    public int GetOrAddWorker(string workerId)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        if (_slots.TryGetValue(workerId, out var slot))
        {
            return slot;
        }

        lock (_write)
        {
            if (_slots.TryGetValue(workerId, out slot))
            {
                return slot;
            }

            slot = _freeSlots.Count > 0 ? _freeSlots.Pop() : _nextSlot++;
            if (slot >= _workers.Length)
            {
                var workers = new string?[_workers.Length * 2];
                _workers.CopyTo(workers, 0);
                var counts = new long[workers.Length * TierCount];
                _blockCounts.CopyTo(counts, 0);
                Volatile.Write(ref _blockCounts, counts);
                Volatile.Write(ref _workers, workers);
            }

            foreach (var table in _tables)
            {
                table.EnsureSlot(slot);
            }

            _workers[slot] = workerId;
            _slots[workerId] = slot;
            Interlocked.Increment(ref _version);
            return slot;
        }
    }

    /// <summary>The slot of <paramref name="workerId"/>, or false when the index has never heard of it.</summary>
    public bool TryGetSlot(string workerId, out int slot) => _slots.TryGetValue(workerId, out slot);

    /// <summary>The worker in <paramref name="slot"/>, or null.</summary>
    public string? WorkerAt(int slot)
    {
        var workers = Volatile.Read(ref _workers);
        return (uint)slot < (uint)workers.Length ? workers[slot] : null;
    }

    /// <summary>Blocks <paramref name="workerId"/> holds in <paramref name="tier"/> (0 for an unknown worker).</summary>
    public long BlockCount(string workerId, StorageTier tier = StorageTier.Device) =>
        _slots.TryGetValue(workerId, out var slot) ? BlockCount(slot, tier) : 0;

    public long BlockCount(int slot, StorageTier tier = StorageTier.Device)
    {
        var counts = Volatile.Read(ref _blockCounts);
        var at = (slot * TierCount) + (int)tier;
        return (uint)at < (uint)counts.Length ? Volatile.Read(ref counts[at]) : 0;
    }

    /// <summary>Whether <paramref name="workerId"/> holds the block <paramref name="seqHash"/> in <paramref name="tier"/>.</summary>
    public bool Contains(string workerId, ulong seqHash, StorageTier tier = StorageTier.Device) =>
        _slots.TryGetValue(workerId, out var slot) && _tables[(int)tier].Contains(seqHash, slot);

    /// <summary>Applies one KV event of the worker in <paramref name="slot"/> (no id checks: see <see cref="KvIndexer"/>).</summary>
    public void Apply(int slot, KvEvent kvEvent)
    {
        ArgumentNullException.ThrowIfNull(kvEvent);
        lock (_write)
        {
            ApplyLocked(slot, kvEvent.Tier, kvEvent.Data);
        }
    }

    /// <summary>Applies a run of events of one worker under one lock (a dump or a replay).</summary>
    public void Apply(int slot, IReadOnlyList<KvEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        lock (_write)
        {
            foreach (var kvEvent in events)
            {
                ApplyLocked(slot, kvEvent.Tier, kvEvent.Data);
            }
        }
    }

    public void Store(int slot, StorageTier tier, ReadOnlySpan<ulong> seqHashes)
    {
        lock (_write)
        {
            var table = _tables[(int)tier];
            var added = 0;
            for (var i = 0; i < seqHashes.Length; i++)
            {
                if (i + BlockTable.PrefetchDistance < seqHashes.Length)
                {
                    table.Prefetch(seqHashes[i + BlockTable.PrefetchDistance]);
                }

                added += table.Set(seqHashes[i], slot) ? 1 : 0;
            }

            AddCount(slot, tier, added);
        }
    }

    public void Remove(int slot, StorageTier tier, ReadOnlySpan<ulong> seqHashes)
    {
        lock (_write)
        {
            var table = _tables[(int)tier];
            var removed = 0;
            foreach (var hash in seqHashes)
            {
                removed += table.Clear(hash, slot) ? 1 : 0;
            }

            AddCount(slot, tier, -removed);
        }
    }

    /// <summary>Forgets every block of the worker in <paramref name="slot"/> in <paramref name="tier"/> (a Cleared event).</summary>
    public void Clear(int slot, StorageTier tier)
    {
        lock (_write)
        {
            ClearLocked(slot, tier);
        }
    }

    /// <summary>Forgets every block of the worker in <paramref name="slot"/> in every tier (before a dump is applied).</summary>
    public void ClearWorker(int slot)
    {
        lock (_write)
        {
            for (var t = 0; t < TierCount; t++)
            {
                ClearLocked(slot, (StorageTier)t);
            }
        }
    }

    /// <summary>Purges <paramref name="workerId"/> from every tier and frees its slot. Idempotent.</summary>
    public bool RemoveWorker(string workerId)
    {
        lock (_write)
        {
            if (!_slots.TryRemove(workerId, out var slot))
            {
                return false;
            }

            Interlocked.Increment(ref _version);

            for (var t = 0; t < TierCount; t++)
            {
                ClearLocked(slot, (StorageTier)t);
            }

            _workers[slot] = null;
            _freeSlots.Push(slot);
            return true;
        }
    }

    /// <summary>
    /// For each of <paramref name="slots"/> (a negative slot is a worker the index does not know), writes to
    /// <paramref name="overlaps"/> at the same position the number of leading blocks of <paramref name="seqHashes"/>
    /// that worker holds in <paramref name="tier"/>. Lock-free; allocation-free for up to 1024 slots.
    /// </summary>
    public void Match(ReadOnlySpan<ulong> seqHashes, ReadOnlySpan<int> slots, Span<int> overlaps, StorageTier tier = StorageTier.Device)
    {
        var source = new ComputedHashes(seqHashes);
        Match(ref source, slots, overlaps, tier);
    }

    /// <summary>
    /// As <see cref="Match(ReadOnlySpan{ulong}, ReadOnlySpan{int}, Span{int}, StorageTier)"/>, hashing
    /// <paramref name="tokens"/> only as far as the walk goes, in doubling batches (<see cref="LazyHashes"/>): a
    /// prompt whose cached prefix ends at block k costs at most about 2k hashes, not one per block. The hashes land
    /// in <paramref name="seqHashes"/> (room for every full block); returns how many leading ones are there.
    /// </summary>
    public int MatchTokens(ReadOnlySpan<int> tokens, int blockSize, ReadOnlySpan<int> slots, Span<int> overlaps, Span<ulong> seqHashes, StorageTier tier = StorageTier.Device)
    {
        var source = new LazyHashes(tokens, blockSize, seqHashes);
        if (seqHashes.Length < source.Length)
        {
            throw new ArgumentException($"Needs room for {source.Length} sequence hashes, got {seqHashes.Length}.", nameof(seqHashes));
        }

        Match(ref source, slots, overlaps, tier);
        return source.Computed;
    }

    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Match<THashes>(ref THashes seqHashes, scoped ReadOnlySpan<int> slots, scoped Span<int> overlaps, StorageTier tier)
        where THashes : IHashSource, allows ref struct
    {
        if (overlaps.Length < slots.Length)
        {
            throw new ArgumentException($"Needs room for {slots.Length} overlaps, got {overlaps.Length}.", nameof(overlaps));
        }

        var limit = 0;
        foreach (var slot in slots)
        {
            limit = Math.Max(limit, slot + 1);
        }

        var words = Math.Max(1, (limit + 63) >> 6);
        int[]? rented = null;
        // The match writes only non-zero overlaps.
        var bySlot = limit <= 1024 ? stackalloc int[limit] : (rented = ArrayPool<int>.Shared.Rent(limit));
        bySlot = bySlot[..limit];
        bySlot.Clear();
        Span<ulong> active = words <= 16 ? stackalloc ulong[16] : new ulong[words];
        active = active[..words];
        active.Clear();
        foreach (var slot in slots)
        {
            if (slot >= 0)
            {
                active[slot >> 6] |= 1UL << (slot & 63);
            }
        }

        _tables[(int)tier].MatchPrefix(ref seqHashes, active, bySlot);
        for (var i = 0; i < slots.Length; i++)
        {
            overlaps[i] = slots[i] >= 0 ? bySlot[slots[i]] : 0;
        }

        if (rented is not null)
        {
            ArrayPool<int>.Shared.Return(rented);
        }
    }

    /// <summary>Convenience for tools and tests: hashes <paramref name="tokens"/> and returns every known worker's overlap.</summary>
    public IReadOnlyDictionary<string, int> Match(ReadOnlySpan<int> tokens, int blockSize, StorageTier tier = StorageTier.Device)
    {
        var hashes = BlockHasher.ComputeSequenceHashes(tokens, blockSize);
        var workers = _slots.ToArray();
        var slots = workers.Select(w => w.Value).ToArray();
        var overlaps = new int[slots.Length];
        Match(hashes, slots, overlaps, tier);
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < workers.Length; i++)
        {
            result[workers[i].Key] = overlaps[i];
        }

        return result;
    }

    private void ApplyLocked(int slot, StorageTier tier, KvEventData data)
    {
        var table = _tables[(int)tier];
        switch (data)
        {
            case KvStored stored:
                var blocks = stored.Blocks;
                var added = 0;
                for (var i = 0; i < blocks.Count; i++)
                {
                    if (i + BlockTable.PrefetchDistance < blocks.Count)
                    {
                        table.Prefetch(blocks[i + BlockTable.PrefetchDistance].SeqHash);
                    }

                    added += table.Set(blocks[i].SeqHash, slot) ? 1 : 0;
                }

                AddCount(slot, tier, added);
                break;
            case KvRemoved removed:
                var hashes = removed.SeqHashes;
                var gone = 0;
                for (var i = 0; i < hashes.Count; i++)
                {
                    if (i + BlockTable.PrefetchDistance < hashes.Count)
                    {
                        table.Prefetch(hashes[i + BlockTable.PrefetchDistance]);
                    }

                    gone += table.Clear(hashes[i], slot) ? 1 : 0;
                }

                AddCount(slot, tier, -gone);
                break;
            case KvCleared:
                ClearLocked(slot, tier);
                break;
            default:
                throw new ArgumentException($"Unknown KV event data {data.GetType().Name}.", nameof(data));
        }
    }

    private void ClearLocked(int slot, StorageTier tier)
    {
        ref var count = ref _blockCounts[(slot * TierCount) + (int)tier];
        if (count == 0)
        {
            // Nothing to find: skip the walk over the whole table (every dump of a new worker starts here).
            return;
        }

        _tables[(int)tier].ClearSlot(slot);
        Volatile.Write(ref count, 0);
    }

    private void AddCount(int slot, StorageTier tier, int delta)
    {
        if (delta != 0)
        {
            ref var count = ref _blockCounts[(slot * TierCount) + (int)tier];
            Volatile.Write(ref count, count + delta);
        }
    }
}
