using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Dynamo.Contracts.KvEvents;

namespace Dynamo.KvCache;

/// <summary>
/// The paged KV block manager: a fixed set of blocks (ids <c>0..TotalBlocks-1</c>, each holding
/// <see cref="BlockSize"/> tokens' KV) shared by live sequences, with a prefix cache keyed by sequence hash
/// and LRU eviction of cached blocks nobody holds. The mocker uses it as is; the real engine maps block ids to
/// its K/V memory.
/// </summary>
/// <remarks>
/// <para>Life of a sequence: <see cref="CreateSequence"/> hashes the tokens; <see cref="TryAllocate(KvSequence, int)"/>
/// takes the longest cached prefix (shared, ref-counted) and fresh blocks for the rest, or changes nothing and
/// returns false; the engine computes KV for tokens from <see cref="KvSequence.ComputedTokens"/> on, in chunks,
/// reporting each with <see cref="MarkComputed"/> (only then do full blocks enter the prefix cache);
/// <see cref="TryAppendToken"/> adds a generated token, taking a block when the last one is full;
/// <see cref="Release"/> gives the blocks back: registered ones stay cached (matchable) until evicted.</para>
/// <para>Every change to the prefix cache is a <see cref="KvEvent"/> with a monotonic id, sent to the sink and
/// kept for <see cref="GetEvents"/>. The sink is called under the pool's lock, in id order: it must be quick,
/// must not throw, and must not call back into the pool.</para>
/// <para>Thread-safety: one lock guards everything, so the scheduler thread and readers of stats, replay and
/// dump can share a pool. A <see cref="KvSequence"/> itself belongs to one thread.</para>
/// <para>The last prompt token is never served from the cache: an engine needs at least one token to compute
/// to get logits, so a prompt whose blocks are all cached reuses all but its last block (as vLLM does).</para>
/// </remarks>
public sealed class BlockPool : IKvEventSource
{
    private const int None = -1;

    private readonly Lock _lock = new();
    private readonly IKvEventSink? _sink;
    private readonly Block[] _blocks;
    private readonly int[] _freeStack;
    private readonly Dictionary<ulong, int> _index;
    private readonly int _replayCapacity;
    private KvEvent[] _replay;
    private readonly List<ulong> _removedScratch = [];
    private readonly List<StoredBlock> _storedScratch = [];

    private int _freeCount;
    private int _lruHead = None;
    private int _lruTail = None;
    private int _lruCount;
    private int _activeSequences;
    private long _lastEventId;
    private long _promptTokens;
    private long _cachedPromptTokens;
    private ulong? _runParent;
    private int _runLastIndex;

    public BlockPool(BlockPoolOptions options, IKvEventSink? sink = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        BlockSize = options.BlockSize;
        TotalBlocks = options.TotalBlocks;
        WorkerId = options.WorkerId;
        Tier = options.Tier;
        _sink = sink;
        _blocks = new Block[TotalBlocks];
        _freeStack = new int[TotalBlocks];
        for (int i = 0; i < TotalBlocks; i++)
        {
            // Popped in id order, so a fresh pool hands out 0, 1, 2, ... (contiguous transfers, readable tests).
            _freeStack[i] = TotalBlocks - 1 - i;
            _blocks[i] = new Block { LruPrev = None, LruNext = None };
        }

        _freeCount = TotalBlocks;
        // Grows with the cache rather than up front: hundreds of simulated workers mostly hold few blocks.
        _index = new Dictionary<ulong, int>(Math.Min(TotalBlocks, 1024));
        _replayCapacity = options.ReplayBufferSize;
        _replay = new KvEvent[Math.Min(_replayCapacity, 64)];
    }

    public int BlockSize { get; }

    public int TotalBlocks { get; }

    public string WorkerId { get; }

    public StorageTier Tier { get; }

    /// <summary>Blocks a new allocation can take: never used plus evictable cached blocks.</summary>
    public int FreeBlocks
    {
        get
        {
            lock (_lock)
            {
                return _freeCount + _lruCount;
            }
        }
    }

    /// <summary>Blocks held by live sequences.</summary>
    public int UsedBlocks
    {
        get
        {
            lock (_lock)
            {
                return TotalBlocks - _freeCount - _lruCount;
            }
        }
    }

    /// <inheritdoc />
    public long LastEventId
    {
        get
        {
            lock (_lock)
            {
                return _lastEventId;
            }
        }
    }

    public BlockPoolStats GetStats()
    {
        lock (_lock)
        {
            return new BlockPoolStats(
                TotalBlocks,
                _freeCount + _lruCount,
                _lruCount,
                TotalBlocks - _freeCount - _lruCount,
                _index.Count,
                _activeSequences,
                _promptTokens,
                _cachedPromptTokens);
        }
    }

    /// <summary>
    /// Hashes <paramref name="tokens"/> into a new, unallocated sequence of this pool. Touches no pool state, so
    /// any thread may call it. <paramref name="salt"/> (a LoRA name, UTF-8) is mixed into every block hash.
    /// </summary>
    public KvSequence CreateSequence(ReadOnlySpan<int> tokens, ReadOnlySpan<byte> salt = default) => new(this, tokens, salt);

    /// <summary>Creates a sequence for <paramref name="tokens"/> and allocates it; see <see cref="TryAllocate(KvSequence, int)"/>.</summary>
    public bool TryAllocate(
        ReadOnlySpan<int> tokens,
        [NotNullWhen(true)] out KvSequence? sequence,
        int reserveBlocks = 0,
        ReadOnlySpan<byte> salt = default)
    {
        KvSequence created = CreateSequence(tokens, salt);
        if (TryAllocate(created, reserveBlocks))
        {
            sequence = created;
            return true;
        }

        sequence = null;
        return false;
    }

    /// <summary>
    /// Gives <paramref name="sequence"/> blocks for all its tokens: the longest cached prefix (shared) and fresh
    /// blocks for the rest, evicting least-recently-used cached blocks when the free list is empty. Returns
    /// false, changing nothing, when that would leave fewer than <paramref name="reserveBlocks"/> blocks free
    /// (a scheduler keeps some headroom for running sequences to grow).
    /// </summary>
    /// <exception cref="InvalidOperationException">The sequence is already allocated.</exception>
    public bool TryAllocate(KvSequence sequence, int reserveBlocks = 0) => TryAllocate(sequence, reserveBlocks, matchPrefix: true);

    /// <summary>
    /// As <see cref="TryAllocate(KvSequence, int)"/>; with <paramref name="matchPrefix"/> false every block is fresh and
    /// the whole sequence is computed (a request that needs every prompt position's output). Its completed blocks are
    /// registered as usual, except those whose hash is cached already, which stay private.
    /// </summary>
    public bool TryAllocate(KvSequence sequence, int reserveBlocks, bool matchPrefix)
    {
        CheckOwner(sequence);
        ArgumentOutOfRangeException.ThrowIfNegative(reserveBlocks);
        lock (_lock)
        {
            if (sequence.IsAllocated)
            {
                throw new InvalidOperationException("The sequence is already allocated.");
            }

            List<ulong> hashes = sequence.SeqHashList;
            int neededBlocks = (sequence.TokenCount + BlockSize - 1) / BlockSize;
            int maxMatch = matchPrefix ? Math.Min(hashes.Count, Math.Max(0, (sequence.TokenCount - 1) / BlockSize)) : 0;
            int matched = 0;
            int matchedEvictable = 0;
            while (matched < maxMatch && _index.TryGetValue(hashes[matched], out int cached))
            {
                if (_blocks[cached].RefCount == 0)
                {
                    matchedEvictable++;
                }

                matched++;
            }

            int fresh = neededBlocks - matched;
            if (fresh + reserveBlocks > _freeCount + _lruCount - matchedEvictable)
            {
                return false;
            }

            List<int> table = sequence.BlockList;
            for (int i = 0; i < matched; i++)
            {
                int id = _index[hashes[i]];
                ref Block block = ref _blocks[id];
                if (block.RefCount++ == 0)
                {
                    LruRemove(id);
                }

                table.Add(id);
            }

            // Matched blocks are out of the LRU before fresh ones evict anything, so nothing matched is evicted.
            for (int i = 0; i < fresh; i++)
            {
                int id = TakeBlock();
                _blocks[id].RefCount = 1;
                table.Add(id);
            }

            int cachedTokens = matched * BlockSize;
            sequence.IsAllocated = true;
            sequence.CachedTokens = cachedTokens;
            sequence.ComputedTokens = cachedTokens;
            sequence.RegisteredUpTo = matched;
            _activeSequences++;
            _promptTokens += sequence.TokenCount;
            _cachedPromptTokens += cachedTokens;
            FlushRemoved();
            return true;
        }
    }

    /// <summary>
    /// Appends one token (a generated one, during decode), taking a new block when the last one is full.
    /// Returns false, changing nothing, when the pool has no block to give: the scheduler preempts someone.
    /// </summary>
    /// <exception cref="InvalidOperationException">The sequence is not allocated.</exception>
    public bool TryAppendToken(KvSequence sequence, int token)
    {
        CheckOwner(sequence);
        lock (_lock)
        {
            CheckAllocated(sequence);
            List<int> table = sequence.BlockList;
            if (sequence.TokenCount == table.Count * BlockSize)
            {
                if (_freeCount + _lruCount == 0)
                {
                    return false;
                }

                int id = TakeBlock();
                _blocks[id].RefCount = 1;
                table.Add(id);
                FlushRemoved();
            }

            int[] tail = sequence.Tail;
            int slot = sequence.TokenCount % BlockSize;
            tail[slot] = token;
            sequence.TokenCount++;
            if (slot == BlockSize - 1)
            {
                List<ulong> seqHashes = sequence.SeqHashList;
                ulong blockHash = BlockHasher.HashBlock(tail, sequence.Salt);
                ulong seqHash = seqHashes.Count == 0 ? blockHash : BlockHasher.ChainHash(seqHashes[^1], blockHash);
                seqHashes.Add(seqHash);
                sequence.BlockHashList.Add(blockHash);
            }

            return true;
        }
    }

    /// <summary>
    /// Records that the KV of the first <paramref name="computedTokens"/> tokens is computed, and registers the
    /// full blocks this completes in the prefix cache (one <see cref="KvStored"/> event per contiguous run).
    /// A block whose hash another sequence registered first stays private to this sequence. Lower values than
    /// before are ignored.
    /// </summary>
    public void MarkComputed(KvSequence sequence, int computedTokens)
    {
        CheckOwner(sequence);
        lock (_lock)
        {
            CheckAllocated(sequence);
            if (computedTokens > sequence.TokenCount)
            {
                throw new ArgumentOutOfRangeException(nameof(computedTokens), computedTokens, $"The sequence has only {sequence.TokenCount} tokens.");
            }

            if (computedTokens <= sequence.ComputedTokens)
            {
                return;
            }

            sequence.ComputedTokens = computedTokens;
            int full = Math.Min(computedTokens / BlockSize, sequence.SeqHashList.Count);
            List<int> table = sequence.BlockList;
            for (int i = sequence.RegisteredUpTo; i < full; i++)
            {
                int id = table[i];
                if (!_blocks[id].Registered && !_index.ContainsKey(sequence.SeqHashList[i]))
                {
                    Register(sequence, i, id);
                }
            }

            sequence.RegisteredUpTo = Math.Max(sequence.RegisteredUpTo, full);
            FlushStored();
        }
    }

    /// <summary>
    /// Gives back the sequence's blocks. Registered blocks nobody else holds stay cached and matchable, in LRU
    /// order with the sequence's last block evicted first; the rest go back to the free list. The sequence keeps
    /// its hashes and can be allocated again (a preempted sequence resuming). Releasing twice does nothing.
    /// </summary>
    public void Release(KvSequence sequence)
    {
        CheckOwner(sequence);
        lock (_lock)
        {
            if (!sequence.IsAllocated)
            {
                return;
            }

            List<int> table = sequence.BlockList;

            // A computed full block that lost a registration race (or outlived a Clear) is cached now, if its
            // hash is free: the cache should not forget content that is still in memory.
            int considered = Math.Min(sequence.RegisteredUpTo, table.Count);
            for (int i = 0; i < considered; i++)
            {
                int id = table[i];
                if (_blocks[id].RefCount == 1 && !_blocks[id].Registered && !_index.ContainsKey(sequence.SeqHashList[i]))
                {
                    Register(sequence, i, id);
                }
            }

            FlushStored();

            for (int i = table.Count - 1; i >= 0; i--)
            {
                int id = table[i];
                ref Block block = ref _blocks[id];
                Debug.Assert(block.RefCount > 0, "Releasing a block nobody holds.");
                if (--block.RefCount > 0)
                {
                    continue;
                }

                if (block.Registered)
                {
                    LruAppend(id);
                }
                else
                {
                    _freeStack[_freeCount++] = id;
                }
            }

            table.Clear();
            sequence.IsAllocated = false;
            sequence.ComputedTokens = 0;
            sequence.RegisteredUpTo = 0;
            _activeSequences--;
        }
    }

    /// <summary>Number of leading <paramref name="seqHashes"/> cached in this pool. Changes nothing (no LRU touch).</summary>
    public int MatchPrefix(ReadOnlySpan<ulong> seqHashes)
    {
        lock (_lock)
        {
            int matched = 0;
            while (matched < seqHashes.Length && _index.ContainsKey(seqHashes[matched]))
            {
                matched++;
            }

            return matched;
        }
    }

    /// <summary>
    /// Empties the prefix cache: evictable blocks go back to the free list, blocks held by live sequences stop
    /// being matchable. Emits <see cref="KvCleared"/>.
    /// </summary>
    public void Clear()
    {
        lock (_lock)
        {
            foreach (int id in _index.Values)
            {
                ref Block block = ref _blocks[id];
                block.Registered = false;
                if (block.RefCount == 0)
                {
                    LruRemove(id);
                    _freeStack[_freeCount++] = id;
                }
            }

            _index.Clear();
            Emit(new KvCleared());
        }
    }

    /// <inheritdoc />
    public ReplayResult GetEvents(long fromEventId, long toEventId)
    {
        lock (_lock)
        {
            long last = _lastEventId;
            long oldest = last - Math.Min(last, _replayCapacity) + 1;
            long from = Math.Max(fromEventId, 1);
            long to = Math.Min(toEventId, last);
            if (from > to)
            {
                return new ReplayResult(true, [], oldest, last);
            }

            if (from < oldest)
            {
                return new ReplayResult(false, [], oldest, last);
            }

            var events = new KvEvent[to - from + 1];
            for (long id = from; id <= to; id++)
            {
                events[id - from] = _replay[(id - 1) % _replayCapacity];
            }

            return new ReplayResult(true, events, oldest, last);
        }
    }

    /// <inheritdoc />
    public KvDump Dump()
    {
        lock (_lock)
        {
            long last = _lastEventId;
            var children = new Dictionary<ulong, List<int>>();
            var roots = new List<int>();
            for (int id = 0; id < _blocks.Length; id++)
            {
                ref Block block = ref _blocks[id];
                if (!block.Registered)
                {
                    continue;
                }

                if (block.HasParent && _index.ContainsKey(block.ParentHash))
                {
                    if (!children.TryGetValue(block.ParentHash, out List<int>? list))
                    {
                        children[block.ParentHash] = list = [];
                    }

                    list.Add(id);
                }
                else
                {
                    roots.Add(id);
                }
            }

            // Depth-first, one Stored event per chain: a chain follows first children; siblings start new chains
            // whose parent is already out, so parents always precede children.
            var events = new List<KvEvent>();
            var pending = new Stack<int>();
            for (int r = roots.Count - 1; r >= 0; r--)
            {
                pending.Push(roots[r]);
            }

            while (pending.Count > 0)
            {
                int id = pending.Pop();
                ulong? parent = _blocks[id].HasParent ? _blocks[id].ParentHash : null;
                var chain = new List<StoredBlock>();
                while (true)
                {
                    ref Block block = ref _blocks[id];
                    chain.Add(new StoredBlock(block.SeqHash, block.TokensHash));
                    if (!children.TryGetValue(block.SeqHash, out List<int>? kids))
                    {
                        break;
                    }

                    for (int k = kids.Count - 1; k >= 1; k--)
                    {
                        pending.Push(kids[k]);
                    }

                    id = kids[0];
                }

                events.Add(new KvEvent(WorkerId, last, Tier, new KvStored(parent, chain)));
            }

            return new KvDump(last, events);
        }
    }

    private void CheckOwner(KvSequence sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (!ReferenceEquals(sequence.Pool, this))
        {
            throw new ArgumentException("The sequence belongs to another block pool.", nameof(sequence));
        }
    }

    private static void CheckAllocated(KvSequence sequence)
    {
        if (!sequence.IsAllocated)
        {
            throw new InvalidOperationException("The sequence is not allocated.");
        }
    }

    /// <summary>A free block, or the least recently used evictable one (queued as removed).</summary>
    private int TakeBlock()
    {
        if (_freeCount > 0)
        {
            return _freeStack[--_freeCount];
        }

        int id = _lruHead;
        Debug.Assert(id != None, "TakeBlock called with no free or evictable block.");
        LruRemove(id);
        ref Block block = ref _blocks[id];
        _index.Remove(block.SeqHash);
        block.Registered = false;
        _removedScratch.Add(block.SeqHash);
        return id;
    }

    private void Register(KvSequence sequence, int index, int id)
    {
        List<ulong> seqHashes = sequence.SeqHashList;
        ref Block block = ref _blocks[id];
        block.Registered = true;
        block.SeqHash = seqHashes[index];
        block.TokensHash = sequence.BlockHashList[index];
        block.HasParent = index > 0;
        block.ParentHash = index > 0 ? seqHashes[index - 1] : 0;
        _index.Add(block.SeqHash, id);

        if (_storedScratch.Count > 0 && index != _runLastIndex + 1)
        {
            FlushStored();
        }

        if (_storedScratch.Count == 0)
        {
            _runParent = index > 0 ? seqHashes[index - 1] : null;
        }

        _storedScratch.Add(new StoredBlock(block.SeqHash, block.TokensHash));
        _runLastIndex = index;
    }

    private void FlushStored()
    {
        if (_storedScratch.Count == 0)
        {
            return;
        }

        Emit(new KvStored(_runParent, [.. _storedScratch]));
        _storedScratch.Clear();
    }

    private void FlushRemoved()
    {
        if (_removedScratch.Count == 0)
        {
            return;
        }

        Emit(new KvRemoved([.. _removedScratch]));
        _removedScratch.Clear();
    }

    private void Emit(KvEventData data)
    {
        var kvEvent = new KvEvent(WorkerId, ++_lastEventId, Tier, data);
        if (_replayCapacity > 0)
        {
            // The ring grows to its capacity as events come (idle simulated workers stay small); it only wraps once full.
            long slot = (_lastEventId - 1) % _replayCapacity;
            if (slot >= _replay.Length)
            {
                Array.Resize(ref _replay, (int)Math.Min(_replayCapacity, _replay.Length * 2L));
            }

            _replay[slot] = kvEvent;
        }

        _sink?.Publish(kvEvent);
    }

    private void LruAppend(int id)
    {
        ref Block block = ref _blocks[id];
        block.LruPrev = _lruTail;
        block.LruNext = None;
        if (_lruTail == None)
        {
            _lruHead = id;
        }
        else
        {
            _blocks[_lruTail].LruNext = id;
        }

        _lruTail = id;
        _lruCount++;
    }

    private void LruRemove(int id)
    {
        ref Block block = ref _blocks[id];
        if (block.LruPrev == None)
        {
            _lruHead = block.LruNext;
        }
        else
        {
            _blocks[block.LruPrev].LruNext = block.LruNext;
        }

        if (block.LruNext == None)
        {
            _lruTail = block.LruPrev;
        }
        else
        {
            _blocks[block.LruNext].LruPrev = block.LruPrev;
        }

        block.LruPrev = None;
        block.LruNext = None;
        _lruCount--;
    }

    [StructLayout(LayoutKind.Auto)]
    private struct Block
    {
        public int RefCount;
        public bool Registered;
        public bool HasParent;
        public ulong SeqHash;
        public ulong TokensHash;
        public ulong ParentHash;
        public int LruPrev;
        public int LruNext;
    }
}
