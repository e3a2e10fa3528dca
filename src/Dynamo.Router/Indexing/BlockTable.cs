using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Dynamo.Router.Indexing;

/// <summary>
/// Open-addressing hash table from a block's sequence hash to the worker slots holding it. One writer at a time (the
/// caller serializes writes); any number of readers run without locks while it writes.
/// </summary>
/// <remarks>
/// <para>Each entry is two <c>ulong</c>s, the key and a holder word, so four entries share a cache line whatever the
/// number of workers. Up to 64 worker slots (one word) the holder word is the holders' bitset. Past that it lists
/// up to <see cref="InlineHolders"/> slots inline (21 bits each, slot + 1, 0 for none); a block with more holders
/// points instead at a record of <see cref="Words"/> 64-bit words of worker bits in an overflow pool. Most blocks
/// have one holder (a router exists to keep it so), so at 1,000 workers an entry stays 16 bytes instead of carrying
/// a 1,000-bit set: a prompt's walk touches one line per block, and once the candidates have narrowed to the few
/// holders of the first block it tests those few and nothing else.</para>
/// <para>Linear probing from a Fibonacci hash of the key; at most 3/4 of the entries are used (live or tombstone),
/// so every probe ends at an empty entry.</para>
/// <para>Readers see a consistent table without locks because the writer never moves an entry, nor reuses an
/// overflow record, inside a published array: a key is written before its holders, a removed key stays as a
/// tombstone (no holders) until the whole table is rebuilt into new arrays, a holder word changes in one write, and
/// a record once given to a key belongs to that key until the rebuild (a tombstone reused for another key orphans
/// its record). A reader re-reads the key and the holder word after reading the holders, so a tombstone reused in
/// between is seen as a miss. Growth, shrinking, widening for more workers and dropping orphaned records all
/// rebuild into new arrays published with one volatile write; a reader still on the old ones sees a slightly stale
/// but consistent table.</para>
/// </remarks>
internal sealed class BlockTable
{
    /// <summary>Slots a holder word lists without an overflow record.</summary>
    public const int InlineHolders = 3;

    /// <summary>Slot numbers must stay below this (21 bits per inline holder, 0 meaning none).</summary>
    public const int MaxSlots = (1 << HolderBits) - 1;

    /// <summary>How many hashes ahead loops prefetch: enough to overlap several misses, few enough to stay useful.</summary>
    public const int PrefetchDistance = 16;

    /// <summary>Sequence hash 0 is stored as this (0 marks an empty entry); a real hash equal to it is a 2^-64 event.</summary>
    private const ulong ZeroKey = 0x9E3779B97F4A7C15;
    private const int MinCapacity = 1024;
    private const int HolderBits = 21;
    private const ulong HolderMask = (1UL << HolderBits) - 1;
    private const ulong OverflowFlag = 1UL << 63;

    /// <summary>Orphaned overflow records tolerated before a rebuild drops them (also at least the live ones).</summary>
    private const int MinOrphansBeforeRebuild = 4096;

    private Layout _layout;
    private int _live;
    private int _used;
    private int _orphans;

    public BlockTable(int words = 1)
    {
        _layout = new Layout(MinCapacity, Math.Max(1, words), 0);
    }

    /// <summary>Keys with at least one worker.</summary>
    public int Count => Volatile.Read(ref _live);

    /// <summary>Words of worker bits per overflow record: the table holds slots 0..64·Words-1.</summary>
    public int Words => Volatile.Read(ref _layout).Words;

    public int Capacity => Volatile.Read(ref _layout).Capacity;

    /// <summary>Bytes of the current arrays: entries and overflow pool.</summary>
    public long Bytes
    {
        get
        {
            var layout = Volatile.Read(ref _layout);
            return ((long)layout.Data.Length + Volatile.Read(ref layout.Pool).Bits.Length) * sizeof(ulong);
        }
    }

    /// <summary>Writer: adds <paramref name="slot"/> to the holders of <paramref name="hash"/>; true when it was not there.</summary>
    public bool Set(ulong hash, int slot)
    {
        EnsureSlot(slot);
        var key = Key(hash);
        var layout = _layout;
        var data = layout.Data;
        var i = layout.Home(key);
        var tombstone = -1;
        while (true)
        {
            var at = i * 2;
            var k = data[at];
            if (k == key)
            {
                return AddHolder(layout, at, slot);
            }

            if (k == 0)
            {
                break;
            }

            if (tombstone < 0 && IsEmpty(layout, data[at + 1]))
            {
                tombstone = at;
            }

            i = (i + 1) & layout.Mask;
        }

        int target;
        if (tombstone >= 0)
        {
            target = tombstone;
            if (IsOverflow(layout, data[target + 1]))
            {
                // The old key's record stays unreferenced until a rebuild; clear the word first so a reader still on
                // the old key sees no holders rather than the new key's.
                Volatile.Write(ref data[target + 1], 0);
                _orphans++;
            }
        }
        else
        {
            target = i * 2;
            _used++;
        }

        // Key before holders: a reader that finds the key early sees no holder yet, never another key's holders.
        Volatile.Write(ref data[target], key);
        Volatile.Write(ref data[target + 1], layout.Direct ? 1UL << slot : (ulong)(slot + 1));
        _live++;
        if (_used > layout.Capacity / 4 * 3)
        {
            Rebuild(CapacityFor(_live), layout.Words);
        }
        else if (_orphans > Math.Max(MinOrphansBeforeRebuild, layout.Pool.Count - _orphans))
        {
            Rebuild(layout.Capacity, layout.Words);
        }

        return true;
    }

    /// <summary>Writer: removes <paramref name="slot"/> from the holders of <paramref name="hash"/>; true when it was there.</summary>
    public bool Clear(ulong hash, int slot)
    {
        var layout = _layout;
        if ((uint)slot >= (uint)(layout.Words * 64))
        {
            return false;
        }

        var at = Find(layout, Key(hash));
        return at >= 0 && RemoveHolder(layout, at, slot);
    }

    /// <summary>Writer: removes <paramref name="slot"/> from every key; returns how many keys it held. Walks the whole table.</summary>
    public int ClearSlot(int slot)
    {
        var layout = _layout;
        if ((uint)slot >= (uint)(layout.Words * 64))
        {
            return 0;
        }

        var data = layout.Data;
        var cleared = 0;
        for (var at = 0; at < data.Length; at += 2)
        {
            if (data[at] != 0 && data[at + 1] != 0 && RemoveHolder(layout, at, slot))
            {
                cleared++;
            }
        }

        return cleared;
    }

    /// <summary>Reader: whether <paramref name="slot"/> holds <paramref name="hash"/>.</summary>
    public bool Contains(ulong hash, int slot)
    {
        var layout = Volatile.Read(ref _layout);
        if ((uint)slot >= (uint)(layout.Words * 64))
        {
            return false;
        }

        var key = Key(hash);
        var at = Find(layout, key);
        if (at < 0)
        {
            return false;
        }

        var data = layout.Data;
        var holders = Volatile.Read(ref data[at + 1]);
        return Holds(layout, holders, slot) && Unchanged(data, at, key, holders);
    }

    /// <summary>
    /// Reader: for every slot whose bit is set in <paramref name="active"/> (one word per 64 slots; used as scratch),
    /// writes to <paramref name="overlap"/> the number of leading hashes of <paramref name="hashes"/> it holds, when
    /// that is not zero: the caller zeroes <paramref name="overlap"/> first, so the many workers that lack the first
    /// block cost nothing one by one. Stops early once no active slot is left. Returns the number of hashes looked up.
    /// </summary>
    /// <remarks>
    /// Starts wide, intersecting bitsets word by word, and narrows to a list of at most <see cref="InlineHolders"/>
    /// slots at the first block whose holders are listed inline: from there on each block costs one probe and a
    /// few compares, whatever the number of workers.
    /// </remarks>
    public int MatchPrefix(ReadOnlySpan<ulong> hashes, Span<ulong> active, Span<int> overlap)
    {
        var source = new ComputedHashes(hashes);
        return MatchPrefix(ref source, active, overlap);
    }

    /// <summary>As above, reading the hashes from <paramref name="hashes"/> as the walk needs them.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int MatchPrefix<THashes>(ref THashes hashes, scoped Span<ulong> active, scoped Span<int> overlap)
        where THashes : IHashSource, allows ref struct
    {
        var layout = Volatile.Read(ref _layout);
        var words = Math.Min(active.Length, layout.Words);
        for (var w = words; w < active.Length; w++)
        {
            // Slots beyond the table's width hold nothing.
            Drop(active, w, active[w], 0, overlap);
        }

        if (layout.Direct)
        {
            return active.IsEmpty ? 0 : MatchDirect(layout, ref hashes, active, overlap);
        }

        var data = layout.Data;
        Span<ulong> held = words <= 32 ? stackalloc ulong[32] : new ulong[words];
        held = held[..words];
        Span<int> narrow = stackalloc int[InlineHolders];
        var narrowCount = -1; // -1 while wide: the candidates are the bits of active
        var i = 0;
        for (; i < hashes.Length; i++)
        {
            if (i + PrefetchDistance < hashes.Length)
            {
                PrefetchIn(layout, Key(hashes.Get(i + PrefetchDistance)));
            }

            var key = Key(hashes.Get(i));
            var at = Find(layout, key);
            var holders = at < 0 ? 0 : Volatile.Read(ref data[at + 1]);
            if (narrowCount >= 0)
            {
                var kept = 0;
                for (var j = 0; j < narrowCount; j++)
                {
                    var slot = narrow[j];
                    if (holders != 0 && Holds(layout, holders, slot) && Unchanged(data, at, key, holders))
                    {
                        narrow[kept++] = slot;
                    }
                    else if (slot < overlap.Length)
                    {
                        overlap[slot] = i;
                    }
                }

                narrowCount = kept;
                if (kept == 0)
                {
                    return i + 1;
                }

                continue;
            }

            if ((holders & OverflowFlag) == 0)
            {
                // Inline (or none): the survivors are those of its few holders still active; everyone else stops here.
                narrowCount = 0;
                if (holders != 0 && Unchanged(data, at, key, holders))
                {
                    for (var f = 0; f < InlineHolders; f++)
                    {
                        var slot = (int)((holders >> (f * HolderBits)) & HolderMask) - 1;
                        if (slot >= 0 && (slot >> 6) < words && (active[slot >> 6] & (1UL << (slot & 63))) != 0)
                        {
                            active[slot >> 6] &= ~(1UL << (slot & 63));
                            narrow[narrowCount++] = slot;
                        }
                    }
                }

                for (var w = 0; w < words; w++)
                {
                    if (active[w] != 0)
                    {
                        Drop(active, w, active[w], i, overlap);
                    }
                }

                if (narrowCount == 0)
                {
                    return i + 1;
                }

                continue;
            }

            // A bitset record: intersect word by word, after checking once that the entry still is this key's.
            var pool = Volatile.Read(ref layout.Pool);
            var record = pool.Bits.AsSpan(RecordStart(holders, pool), words);
            for (var w = 0; w < words; w++)
            {
                held[w] = active[w] == 0 ? 0 : Volatile.Read(ref record[w]);
            }

            if (!Unchanged(data, at, key, holders))
            {
                held.Clear(); // the entry was reused for another key while we read it
            }

            var any = 0UL;
            for (var w = 0; w < words; w++)
            {
                var current = active[w];
                var dropped = current & ~held[w];
                if (dropped != 0)
                {
                    Drop(active, w, dropped, i, overlap);
                }

                any |= active[w];
            }

            if (any == 0)
            {
                return i + 1;
            }
        }

        if (narrowCount >= 0)
        {
            for (var j = 0; j < narrowCount; j++)
            {
                if (narrow[j] < overlap.Length)
                {
                    overlap[narrow[j]] = hashes.Length;
                }
            }
        }
        else
        {
            for (var w = 0; w < words; w++)
            {
                Drop(active, w, active[w], hashes.Length, overlap);
            }
        }

        return i;
    }

    /// <summary>MatchPrefix over one-word tables, whose holder words are bitsets: one AND per block.</summary>
    private static int MatchDirect<THashes>(Layout layout, ref THashes hashes, scoped Span<ulong> active, scoped Span<int> overlap)
        where THashes : IHashSource, allows ref struct
    {
        var data = layout.Data;
        for (var i = 0; i < hashes.Length; i++)
        {
            if (i + PrefetchDistance < hashes.Length)
            {
                PrefetchIn(layout, Key(hashes.Get(i + PrefetchDistance)));
            }

            var key = Key(hashes.Get(i));
            var at = Find(layout, key);
            var held = at < 0 ? 0 : Volatile.Read(ref data[at + 1]);
            if (held != 0 && Volatile.Read(ref data[at]) != key)
            {
                held = 0; // the entry was reused for another key while we read it
            }

            var dropped = active[0] & ~held;
            if (dropped != 0)
            {
                Drop(active, 0, dropped, i, overlap);
            }

            if (active[0] == 0)
            {
                return i + 1;
            }
        }

        Drop(active, 0, active[0], hashes.Length, overlap);
        return hashes.Length;
    }

    /// <summary>
    /// Hint: starts loading the cache line where <paramref name="hash"/> lives. A large table misses the cache on
    /// nearly every probe; callers walking a list of hashes prefetch a few ahead so the misses overlap.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(ulong hash) => PrefetchIn(Volatile.Read(ref _layout), Key(hash));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchIn(Layout layout, ulong key)
    {
        if (Sse.IsSupported)
        {
            // A prefetch never faults, and a stale address (the array moved) only wastes the hint.
            Sse.Prefetch0(Unsafe.AsPointer(ref layout.Data[layout.Home(key) * 2]));
        }
    }

    /// <summary>Writer: makes room for slot numbers up to <paramref name="slot"/>.</summary>
    public void EnsureSlot(int slot)
    {
        if ((uint)slot >= MaxSlots)
        {
            throw new ArgumentOutOfRangeException(nameof(slot), slot, $"Worker slots must be below {MaxSlots}.");
        }

        var words = (slot >> 6) + 1;
        if (words > _layout.Words)
        {
            Rebuild(_layout.Capacity, words);
        }
    }

    /// <summary>Writer: rebuilds into the smallest arrays that hold the live keys (drops tombstones and orphaned records).</summary>
    public void Compact() => Rebuild(CapacityFor(_live), _layout.Words);

    private bool AddHolder(Layout layout, int at, int slot)
    {
        var data = layout.Data;
        var holders = data[at + 1];
        if (layout.Direct)
        {
            var bit = 1UL << slot;
            if ((holders & bit) != 0)
            {
                return false;
            }

            Volatile.Write(ref data[at + 1], holders | bit);
            _live += holders == 0 ? 1 : 0;
            return true;
        }

        var wasEmpty = IsEmpty(layout, holders);
        if ((holders & OverflowFlag) != 0)
        {
            var pool = layout.Pool;
            ref var word = ref pool.Bits[RecordStart(holders, pool) + (slot >> 6)];
            var bit = 1UL << (slot & 63);
            if ((word & bit) != 0)
            {
                return false;
            }

            Volatile.Write(ref word, word | bit);
        }
        else
        {
            var free = -1;
            for (var f = 0; f < InlineHolders; f++)
            {
                var held = (int)((holders >> (f * HolderBits)) & HolderMask);
                if (held == slot + 1)
                {
                    return false;
                }

                if (held == 0 && free < 0)
                {
                    free = f;
                }
            }

            if (free >= 0)
            {
                Volatile.Write(ref data[at + 1], holders | ((ulong)(slot + 1) << (free * HolderBits)));
            }
            else
            {
                // A fourth holder: move the list to a bitset record, filled before the word points at it.
                var (pool, record) = NewRecord(layout);
                for (var f = 0; f < InlineHolders; f++)
                {
                    var held = (int)((holders >> (f * HolderBits)) & HolderMask) - 1;
                    pool.Bits[(record * pool.Words) + (held >> 6)] |= 1UL << (held & 63);
                }

                pool.Bits[(record * pool.Words) + (slot >> 6)] |= 1UL << (slot & 63);
                Volatile.Write(ref data[at + 1], OverflowFlag | (uint)record);
            }
        }

        if (wasEmpty)
        {
            _live++;
        }

        return true;
    }

    private bool RemoveHolder(Layout layout, int at, int slot)
    {
        var data = layout.Data;
        var holders = data[at + 1];
        if (layout.Direct)
        {
            var bit = 1UL << slot;
            if ((holders & bit) == 0)
            {
                return false;
            }

            Volatile.Write(ref data[at + 1], holders & ~bit);
            _live -= holders == bit ? 1 : 0;
            return true;
        }

        if ((holders & OverflowFlag) != 0)
        {
            var pool = layout.Pool;
            var record = RecordStart(holders, pool);
            ref var word = ref pool.Bits[record + (slot >> 6)];
            var bit = 1UL << (slot & 63);
            if ((word & bit) == 0)
            {
                return false;
            }

            Volatile.Write(ref word, word & ~bit);
            if (IsEmptyRecord(pool, record))
            {
                _live--;
            }

            return true;
        }

        for (var f = 0; f < InlineHolders; f++)
        {
            if ((int)((holders >> (f * HolderBits)) & HolderMask) == slot + 1)
            {
                var rest = holders & ~(HolderMask << (f * HolderBits));
                Volatile.Write(ref data[at + 1], rest);
                if (rest == 0)
                {
                    _live--;
                }

                return true;
            }
        }

        return false;
    }

    private static (Pool Pool, int Record) NewRecord(Layout layout)
    {
        var pool = layout.Pool;
        if ((pool.Count + 1) * pool.Words > pool.Bits.Length)
        {
            // Same record numbers in a larger array, published before any holder word points past the old one.
            var grown = new Pool(pool.Words, Math.Max(64, pool.Count * 2)) { Count = pool.Count };
            Array.Copy(pool.Bits, grown.Bits, (long)pool.Count * pool.Words);
            Volatile.Write(ref layout.Pool, grown);
            pool = grown;
        }

        return (pool, pool.Count++);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RecordStart(ulong holders, Pool pool) => (int)(uint)holders * pool.Words;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Holds(Layout layout, ulong holders, int slot)
    {
        if (layout.Direct)
        {
            return (holders & (1UL << slot)) != 0;
        }

        if ((holders & OverflowFlag) != 0)
        {
            var pool = Volatile.Read(ref layout.Pool);
            return (Volatile.Read(ref pool.Bits[RecordStart(holders, pool) + (slot >> 6)]) & (1UL << (slot & 63))) != 0;
        }

        var wanted = (ulong)(slot + 1);
        return (holders & HolderMask) == wanted
            || ((holders >> HolderBits) & HolderMask) == wanted
            || ((holders >> (2 * HolderBits)) & HolderMask) == wanted;
    }

    /// <summary>Whether the entry still has the key and holder word a reader started from.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Unchanged(ulong[] data, int at, ulong key, ulong holders) =>
        Volatile.Read(ref data[at]) == key && Volatile.Read(ref data[at + 1]) == holders;

    private static void Drop(Span<ulong> active, int word, ulong bits, int overlapValue, Span<int> overlap)
    {
        active[word] &= ~bits;
        if (overlapValue == 0)
        {
            return; // already zero
        }

        while (bits != 0)
        {
            var slot = (word << 6) + BitOperations.TrailingZeroCount(bits);
            if (slot < overlap.Length)
            {
                overlap[slot] = overlapValue;
            }

            bits &= bits - 1;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Find(Layout layout, ulong key)
    {
        var data = layout.Data;
        var i = layout.Home(key);
        while (true)
        {
            var at = i * 2;
            var k = Volatile.Read(ref data[at]);
            if (k == key)
            {
                return at;
            }

            if (k == 0)
            {
                return -1;
            }

            i = (i + 1) & layout.Mask;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Key(ulong hash) => hash == 0 ? ZeroKey : hash;

    private static bool IsEmpty(Layout layout, ulong holders) =>
        holders == 0 || (IsOverflow(layout, holders) && IsEmptyRecord(layout.Pool, RecordStart(holders, layout.Pool)));

    /// <summary>Whether <paramref name="holders"/> points at an overflow record (never in a one-word table).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsOverflow(Layout layout, ulong holders) => !layout.Direct && (holders & OverflowFlag) != 0;

    private static bool IsEmptyRecord(Pool pool, int record)
    {
        for (var w = 0; w < pool.Words; w++)
        {
            if (pool.Bits[record + w] != 0)
            {
                return false;
            }
        }

        return true;
    }

    private static int CapacityFor(int live)
    {
        // Half full after a rebuild: room to grow before the next one, short probes.
        var wanted = Math.Max(MinCapacity, (long)live * 2);
        return (int)BitOperations.RoundUpToPowerOf2((ulong)wanted);
    }

    /// <summary>
    /// Copies the live keys into new arrays of <paramref name="capacity"/> entries and <paramref name="words"/>-word
    /// records (never fewer words than now); a record left with at most <see cref="InlineHolders"/> holders goes
    /// back inline, and a one-word table's bitsets become lists or records when it widens.
    /// </summary>
    private void Rebuild(int capacity, int words)
    {
        var old = _layout;
        if (words < old.Words)
        {
            throw new InvalidOperationException($"The table cannot narrow from {old.Words} words to {words}.");
        }

        var oldPool = old.Pool;
        var next = new Layout(capacity, words, 0);
        var data = old.Data;
        var live = 0;
        for (var at = 0; at < data.Length; at += 2)
        {
            var holders = data[at + 1];
            if (data[at] == 0 || IsEmpty(old, holders))
            {
                continue;
            }

            if (old.Direct && !next.Direct)
            {
                holders = Recopy(next, [holders]);
            }
            else if (IsOverflow(old, holders))
            {
                holders = Recopy(next, oldPool.Bits.AsSpan(RecordStart(holders, oldPool), oldPool.Words));
            }

            var i = next.Home(data[at]);
            while (next.Data[i * 2] != 0)
            {
                i = (i + 1) & next.Mask;
            }

            next.Data[i * 2] = data[at];
            next.Data[(i * 2) + 1] = holders;
            live++;
        }

        _live = live;
        _used = live;
        _orphans = 0;
        Volatile.Write(ref _layout, next);
    }

    /// <summary>
    /// The holder word, in the wide <paramref name="next"/> layout, for the holders in <paramref name="bitset"/>:
    /// inline when few enough, else a new record.
    /// </summary>
    private static ulong Recopy(Layout next, ReadOnlySpan<ulong> bitset)
    {
        var count = 0;
        foreach (var bits in bitset)
        {
            count += BitOperations.PopCount(bits);
        }

        if (count <= InlineHolders)
        {
            ulong inline = 0;
            var f = 0;
            for (var w = 0; w < bitset.Length; w++)
            {
                var bits = bitset[w];
                while (bits != 0)
                {
                    var slot = (w << 6) + BitOperations.TrailingZeroCount(bits);
                    inline |= (ulong)(slot + 1) << (f++ * HolderBits);
                    bits &= bits - 1;
                }
            }

            return inline;
        }

        var (pool, copy) = NewRecord(next);
        bitset.CopyTo(pool.Bits.AsSpan(copy * pool.Words, pool.Words));
        return OverflowFlag | (uint)copy;
    }

    private sealed class Layout
    {
        /// <summary>The overflow records; replaced by a larger copy (same record numbers) as it fills.</summary>
        public Pool Pool;

        public Layout(int capacity, int words, int records)
        {
            Capacity = capacity;
            Words = words;
            Direct = words == 1;
            Mask = capacity - 1;
            Shift = 64 - BitOperations.Log2((uint)capacity);
            Data = new ulong[(long)capacity * 2];
            Pool = new Pool(words, records);
        }

        /// <summary>Entries: key, holder word.</summary>
        public ulong[] Data { get; }

        public int Capacity { get; }

        public int Words { get; }

        /// <summary>One word: holder words are bitsets, no inline lists or records.</summary>
        public bool Direct { get; }

        public int Mask { get; }

        public int Shift { get; }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Home(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> Shift);
    }

    private sealed class Pool(int words, int records)
    {
        /// <summary>Records handed out (writer only).</summary>
        public int Count;

        public int Words { get; } = words;

        public ulong[] Bits { get; } = new ulong[(long)records * words];
    }
}
