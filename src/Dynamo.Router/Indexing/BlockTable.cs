using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Dynamo.Router.Indexing;

/// <summary>
/// Open-addressing hash table from a block's sequence hash to the set of worker slots holding it (a bitset of
/// <see cref="Words"/> 64-bit words). One writer at a time (the caller serializes writes); any number of readers
/// run without locks while it writes.
/// </summary>
/// <remarks>
/// <para>Each slot is <c>1 + Words</c> consecutive <c>ulong</c>s in one array: the key, then the worker bits, so a
/// probe touches one cache line. Linear probing from a Fibonacci hash of the key; at most 3/4 of the slots are
/// used (live or tombstone), so every probe ends at an empty slot.</para>
/// <para>Readers see a consistent table without locks because the writer never moves an entry inside a published
/// array: a key is written before its bits, a removed key stays as a tombstone (all bits zero) until the whole
/// table is rebuilt into a new array, and a reader re-reads the key after the bits (a tombstone reused for another
/// key in between is then seen as a miss). Growth, shrinking and widening for more workers all rebuild into a new
/// array that is published with one volatile write; a reader still on the old array sees a slightly stale but
/// consistent table.</para>
/// </remarks>
internal sealed class BlockTable
{
    /// <summary>Sequence hash 0 is stored as this (0 marks an empty slot); a real hash equal to it is a 2^-64 event.</summary>
    private const ulong ZeroKey = 0x9E3779B97F4A7C15;
    private const int MinCapacity = 1024;

    /// <summary>How many hashes ahead loops prefetch: enough to overlap several misses, few enough to stay useful.</summary>
    public const int PrefetchDistance = 8;

    private Layout _layout;
    private int _live;
    private int _used;

    public BlockTable(int words = 1)
    {
        _layout = new Layout(MinCapacity, Math.Max(1, words));
    }

    /// <summary>Keys with at least one worker.</summary>
    public int Count => Volatile.Read(ref _live);

    /// <summary>Words of worker bits per key: the table holds slots 0..64·Words-1.</summary>
    public int Words => Volatile.Read(ref _layout).Words;

    public int Capacity => Volatile.Read(ref _layout).Capacity;

    /// <summary>Bytes of the current array.</summary>
    public long Bytes => (long)Volatile.Read(ref _layout).Data.Length * sizeof(ulong);

    /// <summary>Writer: adds <paramref name="slot"/> to the holders of <paramref name="hash"/>; true when it was not there.</summary>
    public bool Set(ulong hash, int slot)
    {
        EnsureSlot(slot);
        var key = Key(hash);
        var layout = _layout;
        var data = layout.Data;
        var word = slot >> 6;
        var bit = 1UL << (slot & 63);
        var i = layout.Home(key);
        var tombstone = -1;
        while (true)
        {
            var at = i * layout.Stride;
            var k = data[at];
            if (k == key)
            {
                var old = data[at + 1 + word];
                if ((old & bit) != 0)
                {
                    return false;
                }

                if (IsEmptyMask(data, at, layout.Words))
                {
                    _live++;
                }

                Volatile.Write(ref data[at + 1 + word], old | bit);
                return true;
            }

            if (k == 0)
            {
                break;
            }

            if (tombstone < 0 && IsEmptyMask(data, at, layout.Words))
            {
                tombstone = at;
            }

            i = (i + 1) & layout.Mask;
        }

        int target;
        if (tombstone >= 0)
        {
            target = tombstone;
        }
        else
        {
            target = i * layout.Stride;
            _used++;
        }

        // Key before bits: a reader that finds the key early sees no holder yet, never another key's holders.
        Volatile.Write(ref data[target], key);
        Volatile.Write(ref data[target + 1 + word], bit);
        _live++;
        if (_used > layout.Capacity / 4 * 3)
        {
            Rebuild(CapacityFor(_live), layout.Words);
        }

        return true;
    }

    /// <summary>Writer: removes <paramref name="slot"/> from the holders of <paramref name="hash"/>; true when it was there.</summary>
    public bool Clear(ulong hash, int slot)
    {
        var layout = _layout;
        var word = slot >> 6;
        if (word >= layout.Words)
        {
            return false;
        }

        var at = Find(layout, Key(hash));
        if (at < 0)
        {
            return false;
        }

        var data = layout.Data;
        var bit = 1UL << (slot & 63);
        var old = data[at + 1 + word];
        if ((old & bit) == 0)
        {
            return false;
        }

        Volatile.Write(ref data[at + 1 + word], old & ~bit);
        if (IsEmptyMask(data, at, layout.Words))
        {
            _live--;
        }

        return true;
    }

    /// <summary>Writer: removes <paramref name="slot"/> from every key; returns how many keys it held. Walks the whole table.</summary>
    public int ClearSlot(int slot)
    {
        var layout = _layout;
        var word = slot >> 6;
        if (word >= layout.Words)
        {
            return 0;
        }

        var data = layout.Data;
        var bit = 1UL << (slot & 63);
        var cleared = 0;
        for (var at = 0; at < data.Length; at += layout.Stride)
        {
            var old = data[at + 1 + word];
            if ((old & bit) != 0 && data[at] != 0)
            {
                Volatile.Write(ref data[at + 1 + word], old & ~bit);
                cleared++;
                if (IsEmptyMask(data, at, layout.Words))
                {
                    _live--;
                }
            }
        }

        return cleared;
    }

    /// <summary>Reader: whether <paramref name="slot"/> holds <paramref name="hash"/>.</summary>
    public bool Contains(ulong hash, int slot)
    {
        var layout = Volatile.Read(ref _layout);
        var word = slot >> 6;
        if (word >= layout.Words)
        {
            return false;
        }

        var key = Key(hash);
        var at = Find(layout, key);
        if (at < 0)
        {
            return false;
        }

        var bits = Volatile.Read(ref layout.Data[at + 1 + word]);
        return (bits & (1UL << (slot & 63))) != 0 && Volatile.Read(ref layout.Data[at]) == key;
    }

    /// <summary>
    /// Reader: for every slot whose bit is set in <paramref name="active"/> (one word per 64 slots, changed in
    /// place), writes to <paramref name="overlap"/> the number of leading hashes of <paramref name="hashes"/> it
    /// holds. Stops early once no active slot is left. Returns the number of hashes looked up.
    /// </summary>
    public int MatchPrefix(ReadOnlySpan<ulong> hashes, Span<ulong> active, Span<int> overlap)
    {
        var layout = Volatile.Read(ref _layout);
        var words = Math.Min(active.Length, layout.Words);
        for (var w = words; w < active.Length; w++)
        {
            // Slots beyond the table's width hold nothing.
            Drop(active, w, active[w], 0, overlap);
        }

        var data = layout.Data;
        var i = 0;
        for (; i < hashes.Length; i++)
        {
            if (i + PrefetchDistance < hashes.Length)
            {
                PrefetchIn(layout, Key(hashes[i + PrefetchDistance]));
            }

            var key = Key(hashes[i]);
            var at = Find(layout, key);
            var any = 0UL;
            for (var w = 0; w < words; w++)
            {
                var current = active[w];
                if (current == 0)
                {
                    continue;
                }

                var held = at < 0 ? 0 : Volatile.Read(ref data[at + 1 + w]);
                if (at >= 0 && Volatile.Read(ref data[at]) != key)
                {
                    held = 0; // the slot was reused for another key while we read it
                }

                var dropped = current & ~held;
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

        for (var w = 0; w < words; w++)
        {
            Drop(active, w, active[w], hashes.Length, overlap);
        }

        return i;
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
            Sse.Prefetch0(Unsafe.AsPointer(ref layout.Data[layout.Home(key) * layout.Stride]));
        }
    }

    /// <summary>Writer: makes room for slot numbers up to <paramref name="slot"/>.</summary>
    public void EnsureSlot(int slot)
    {
        var words = (slot >> 6) + 1;
        if (words > _layout.Words)
        {
            Rebuild(_layout.Capacity, words);
        }
    }

    /// <summary>Writer: rebuilds into the smallest array that holds the live keys (drops tombstones).</summary>
    public void Compact() => Rebuild(CapacityFor(_live), _layout.Words);

    private static void Drop(Span<ulong> active, int word, ulong bits, int overlapValue, Span<int> overlap)
    {
        active[word] &= ~bits;
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
            var at = i * layout.Stride;
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsEmptyMask(ulong[] data, int at, int words)
    {
        for (var w = 1; w <= words; w++)
        {
            if (data[at + w] != 0)
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

    private void Rebuild(int capacity, int words)
    {
        var old = _layout;
        var next = new Layout(capacity, words);
        var data = old.Data;
        var copy = Math.Min(old.Words, words);
        var live = 0;
        for (var at = 0; at < data.Length; at += old.Stride)
        {
            if (data[at] == 0 || IsEmptyMask(data, at, old.Words))
            {
                continue;
            }

            var i = next.Home(data[at]);
            while (next.Data[i * next.Stride] != 0)
            {
                i = (i + 1) & next.Mask;
            }

            var to = i * next.Stride;
            next.Data[to] = data[at];
            Array.Copy(data, at + 1, next.Data, to + 1, copy);
            live++;
        }

        _live = live;
        _used = live;
        Volatile.Write(ref _layout, next);
    }

    private sealed class Layout
    {
        public Layout(int capacity, int words)
        {
            Capacity = capacity;
            Words = words;
            Stride = 1 + words;
            Mask = capacity - 1;
            Shift = 64 - BitOperations.Log2((uint)capacity);
            Data = new ulong[(long)capacity * Stride];
        }

        public ulong[] Data { get; }

        public int Capacity { get; }

        public int Words { get; }

        public int Stride { get; }

        public int Mask { get; }

        public int Shift { get; }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Home(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> Shift);
    }
}
