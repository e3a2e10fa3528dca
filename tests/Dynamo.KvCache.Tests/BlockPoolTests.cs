using Dynamo.Contracts.KvEvents;

namespace Dynamo.KvCache.Tests;

public sealed class BlockPoolTests
{
    private readonly RecordingSink _sink = new();

    [Fact]
    public void TryAllocate_FreshPool_TakesBlocksInIdOrderAndCachesNothing()
    {
        BlockPool pool = NewPool(totalBlocks: 8);

        Assert.True(pool.TryAllocate(Tokens(40), out KvSequence? seq));

        Assert.Equal([0, 1, 2], seq.BlockTable);
        Assert.Equal(40, seq.TokenCount);
        Assert.Equal(0, seq.CachedTokens);
        Assert.Equal(0, seq.ComputedTokens);
        Assert.Equal(3, pool.UsedBlocks);
        Assert.Equal(5, pool.FreeBlocks);
        Assert.Empty(_sink.Events);
    }

    [Fact]
    public void MarkComputed_RegistersOnlyFullComputedBlocks_WithParentHashes()
    {
        BlockPool pool = NewPool();
        int[] tokens = Tokens(40);
        ulong[] hashes = BlockHasher.ComputeSequenceHashes(tokens, 16);
        Assert.True(pool.TryAllocate(tokens, out KvSequence? seq));
        Assert.Equal(0, pool.MatchPrefix(hashes));

        // First prefill chunk: 20 tokens computed completes block 0 only.
        pool.MarkComputed(seq, 20);
        Assert.Equal(1, pool.MatchPrefix(hashes));

        pool.MarkComputed(seq, 40);
        Assert.Equal(2, pool.MatchPrefix(hashes));
        Assert.Equal(2, pool.GetStats().CachedBlocks);

        Assert.Collection(
            _sink.Events,
            e =>
            {
                var stored = Assert.IsType<KvStored>(e.Data);
                Assert.Null(stored.ParentHash);
                Assert.Equal([new StoredBlock(hashes[0], BlockHasher.HashBlock(tokens.AsSpan(0, 16)))], stored.Blocks);
            },
            e =>
            {
                var stored = Assert.IsType<KvStored>(e.Data);
                Assert.Equal(hashes[0], stored.ParentHash);
                Assert.Equal([new StoredBlock(hashes[1], BlockHasher.HashBlock(tokens.AsSpan(16, 16)))], stored.Blocks);
            });
    }

    [Fact]
    public void MarkComputed_ManyBlocksAtOnce_EmitsOneStoredEvent()
    {
        BlockPool pool = NewPool();
        int[] tokens = Tokens(64);
        Assert.True(pool.TryAllocate(tokens, out KvSequence? seq));

        pool.MarkComputed(seq, 64);
        pool.MarkComputed(seq, 10); // lower values are ignored

        KvEvent e = Assert.Single(_sink.Events);
        var stored = Assert.IsType<KvStored>(e.Data);
        Assert.Null(stored.ParentHash);
        Assert.Equal(BlockHasher.ComputeSequenceHashes(tokens, 16), stored.Blocks.Select(b => b.SeqHash));
        Assert.Equal(64, seq.ComputedTokens);
    }

    [Fact]
    public void Release_KeepsComputedBlocksCached_AndNextPromptReusesThem()
    {
        BlockPool pool = NewPool(totalBlocks: 16);
        int[] first = Tokens(48);
        Assert.True(pool.TryAllocate(first, out KvSequence? a));
        pool.MarkComputed(a, 48);
        int[] aBlocks = [.. a.BlockTable];
        pool.Release(a);

        BlockPoolStats afterRelease = pool.GetStats();
        Assert.Equal(16, afterRelease.FreeBlocks);
        Assert.Equal(3, afterRelease.EvictableBlocks);
        Assert.Equal(3, afterRelease.CachedBlocks);
        Assert.Equal(0, afterRelease.UsedBlocks);

        int[] second = [.. first, .. Tokens(10, start: 1000)];
        Assert.True(pool.TryAllocate(second, out KvSequence? b));

        Assert.Equal(48, b.CachedTokens);
        Assert.Equal(48, b.ComputedTokens);
        Assert.Equal(aBlocks, b.BlockTable.Take(3));
        Assert.Equal(4, b.BlockTable.Count);
        BlockPoolStats stats = pool.GetStats();
        Assert.Equal(0, stats.EvictableBlocks);
        Assert.Equal(4, stats.UsedBlocks);
        Assert.Equal(48 + 58, stats.PromptTokens);
        Assert.Equal(48, stats.CachedPromptTokens);
        Assert.Equal(48.0 / 106, stats.HitRate, 6);
    }

    [Fact]
    public void TryAllocate_WholePromptCached_RecomputesTheLastBlock()
    {
        BlockPool pool = NewPool();
        int[] tokens = Tokens(48);
        Assert.True(pool.TryAllocate(tokens, out KvSequence? a));
        pool.MarkComputed(a, 48);
        pool.Release(a);

        Assert.True(pool.TryAllocate(tokens, out KvSequence? b));

        Assert.Equal(32, b.CachedTokens);
        Assert.Equal(3, b.BlockTable.Count);

        // The recomputed block is a duplicate of the cached one: computing it must not touch the index.
        _sink.Clear();
        pool.MarkComputed(b, 48);
        Assert.Empty(_sink.Events);
        Assert.Equal(3, pool.MatchPrefix(BlockHasher.ComputeSequenceHashes(tokens, 16)));
    }

    [Fact]
    public void TryAllocate_SharedPrefix_SharesBlocksAndCountsThemOnce()
    {
        BlockPool pool = NewPool(totalBlocks: 16);
        int[] prefix = Tokens(32);
        Assert.True(pool.TryAllocate([.. prefix, 7], out KvSequence? a));
        pool.MarkComputed(a, 33);

        Assert.True(pool.TryAllocate([.. prefix, 8, 9], out KvSequence? b));

        Assert.Equal(a.BlockTable.Take(2), b.BlockTable.Take(2));
        Assert.NotEqual(a.BlockTable[2], b.BlockTable[2]);
        Assert.Equal(4, pool.UsedBlocks);

        pool.Release(a);
        Assert.Equal(3, pool.UsedBlocks);
        Assert.Equal(2, pool.MatchPrefix(b.SequenceHashes.ToArray()));
    }

    [Fact]
    public void Eviction_TakesLeastRecentlyUsedFirst_TailBlocksBeforeTheirParents()
    {
        BlockPool pool = NewPool(totalBlocks: 4);
        KvSequence a = AllocateComputed(pool, Tokens(32, start: 0));
        KvSequence b = AllocateComputed(pool, Tokens(32, start: 500));
        ulong[] aHashes = [.. a.SequenceHashes];
        ulong[] bHashes = [.. b.SequenceHashes];
        pool.Release(a);
        pool.Release(b);
        _sink.Clear();

        Assert.True(pool.TryAllocate(Tokens(17, start: 900), out _));

        KvEvent e = Assert.Single(_sink.Events);
        Assert.Equal([aHashes[1], aHashes[0]], Assert.IsType<KvRemoved>(e.Data).SeqHashes);
        Assert.Equal(0, pool.MatchPrefix(aHashes));
        Assert.Equal(2, pool.MatchPrefix(bHashes));
    }

    [Fact]
    public void Eviction_ReusedBlocksBecomeMostRecentlyUsed()
    {
        BlockPool pool = NewPool(totalBlocks: 5);
        int[] aTokens = Tokens(32, start: 0);
        KvSequence a = AllocateComputed(pool, aTokens);
        KvSequence b = AllocateComputed(pool, Tokens(32, start: 500));
        ulong[] aHashes = [.. a.SequenceHashes];
        ulong[] bHashes = [.. b.SequenceHashes];
        pool.Release(a);
        pool.Release(b);

        // Touch a's prefix again (its extra block comes from the free list): b is now the least recently used.
        Assert.True(pool.TryAllocate([.. aTokens, 1], out KvSequence? again));
        pool.Release(again);
        _sink.Clear();

        Assert.True(pool.TryAllocate(Tokens(33, start: 900), out _));

        Assert.Equal([bHashes[1], bHashes[0]], Assert.IsType<KvRemoved>(Assert.Single(_sink.Events).Data).SeqHashes);
        Assert.Equal(2, pool.MatchPrefix(aHashes));
    }

    [Fact]
    public void TryAllocate_NotEnoughBlocks_ReturnsFalseAndChangesNothing()
    {
        BlockPool pool = NewPool(totalBlocks: 4);
        Assert.True(pool.TryAllocate(Tokens(40), out KvSequence? a));
        BlockPoolStats before = pool.GetStats();

        Assert.False(pool.TryAllocate(Tokens(20, start: 100), out KvSequence? b));

        Assert.Null(b);
        Assert.Equal(before, pool.GetStats());
        Assert.Equal([0, 1, 2], a.BlockTable);
        Assert.Empty(_sink.Events);
    }

    [Fact]
    public void TryAllocate_MatchedEvictableBlocksAreNotCountedTwice()
    {
        BlockPool pool = NewPool(totalBlocks: 4);
        int[] prompt = Tokens(48);
        KvSequence a = AllocateComputed(pool, prompt);
        pool.Release(a);
        _sink.Clear();

        // 3 cached blocks match; 2 fresh ones are needed but only 1 block is neither free-listed nor matched.
        Assert.False(pool.TryAllocate([.. prompt, .. Tokens(20, start: 100)], out _));

        Assert.Empty(_sink.Events);
        Assert.Equal(3, pool.MatchPrefix([.. a.SequenceHashes]));
        Assert.Equal(4, pool.FreeBlocks);
        Assert.Equal(0, pool.GetStats().ActiveSequences);
    }

    [Fact]
    public void TryAllocate_HonoursReserve()
    {
        BlockPool pool = NewPool(totalBlocks: 4);

        Assert.False(pool.TryAllocate(Tokens(48), out _, reserveBlocks: 2));
        Assert.True(pool.TryAllocate(Tokens(48), out _, reserveBlocks: 1));
        Assert.Equal(1, pool.FreeBlocks);
    }

    [Fact]
    public void TryAppendToken_TakesABlockAtBoundary_AndHashesCompletedBlocksLikeAWholePrompt()
    {
        BlockPool pool = NewPool(totalBlocks: 8);
        int[] all = Tokens(40);
        Assert.True(pool.TryAllocate(all.AsSpan(0, 16), out KvSequence? seq));
        pool.MarkComputed(seq, 16);
        Assert.Single(seq.BlockTable);

        for (int i = 16; i < 40; i++)
        {
            Assert.True(pool.TryAppendToken(seq, all[i]));
            pool.MarkComputed(seq, seq.TokenCount);
        }

        Assert.Equal(40, seq.TokenCount);
        Assert.Equal(3, seq.BlockTable.Count);
        Assert.Equal(BlockHasher.ComputeSequenceHashes(all, 16), seq.SequenceHashes);
        var second = Assert.IsType<KvStored>(_sink.Events[^1].Data);
        Assert.Equal(seq.SequenceHashes[0], second.ParentHash);
        Assert.Equal(seq.SequenceHashes[1], Assert.Single(second.Blocks).SeqHash);
    }

    [Fact]
    public void TryAppendToken_PoolExhausted_ReturnsFalseWithoutChangingTheSequence()
    {
        BlockPool pool = NewPool(totalBlocks: 2);
        Assert.True(pool.TryAllocate(Tokens(32), out KvSequence? seq));

        Assert.False(pool.TryAppendToken(seq, 5));

        Assert.Equal(32, seq.TokenCount);
        Assert.Equal(2, seq.BlockTable.Count);
        Assert.Equal(2, seq.SequenceHashes.Count);
    }

    [Fact]
    public void TryAppendToken_EvictsCachedBlocksWhenNoFreeOnesAreLeft()
    {
        BlockPool pool = NewPool(totalBlocks: 3);
        KvSequence old = AllocateComputed(pool, Tokens(16, start: 300));
        ulong oldHash = old.SequenceHashes[0];
        pool.Release(old);
        Assert.True(pool.TryAllocate(Tokens(32), out KvSequence? seq));
        _sink.Clear();

        Assert.True(pool.TryAppendToken(seq, 1));

        Assert.Equal([oldHash], Assert.IsType<KvRemoved>(Assert.Single(_sink.Events).Data).SeqHashes);
        Assert.Equal(0, pool.FreeBlocks);
    }

    [Fact]
    public void ConcurrentDuplicates_FirstRegistrationWins_AndIndexStaysConsistent()
    {
        BlockPool pool = NewPool(totalBlocks: 8);
        int[] prompt = Tokens(33);
        Assert.True(pool.TryAllocate(prompt, out KvSequence? a));
        Assert.True(pool.TryAllocate(prompt, out KvSequence? b));
        Assert.Empty(a.BlockTable.Intersect(b.BlockTable));

        pool.MarkComputed(a, 33);
        pool.MarkComputed(b, 33);

        Assert.Single(_sink.Events);
        pool.Release(b); // b's copies are not registered and their hashes are taken: they are just freed
        Assert.Single(_sink.Events);
        Assert.Equal(8 - 3, pool.FreeBlocks);
        Assert.Equal(2, pool.GetStats().CachedBlocks);

        pool.Release(a);
        Assert.Equal(2, pool.GetStats().CachedBlocks);
        Assert.Equal(2, pool.GetStats().EvictableBlocks);
        Assert.Equal(2, pool.MatchPrefix([.. a.SequenceHashes]));
    }

    [Fact]
    public void ConcurrentDuplicates_LoserIsCachedOnReleaseWhenTheWinnerWasEvicted()
    {
        BlockPool pool = NewPool(totalBlocks: 4);
        int[] prompt = Tokens(17);
        Assert.True(pool.TryAllocate(prompt, out KvSequence? a));
        Assert.True(pool.TryAllocate(prompt, out KvSequence? b));
        pool.MarkComputed(a, 17);
        pool.MarkComputed(b, 17);
        ulong hash = a.SequenceHashes[0];
        pool.Release(a);
        // Takes the last free block, then evicts a's cached block (the only evictable one).
        Assert.True(pool.TryAllocate(Tokens(32, start: 700), out _));
        Assert.Equal(0, pool.MatchPrefix([hash]));
        _sink.Clear();

        pool.Release(b);

        var stored = Assert.IsType<KvStored>(Assert.Single(_sink.Events).Data);
        Assert.Equal(hash, Assert.Single(stored.Blocks).SeqHash);
        Assert.Equal(1, pool.MatchPrefix([hash]));
    }

    [Fact]
    public void EventIds_AreMonotonicFromOne_AndSinkSeesWhatReplayKeeps()
    {
        BlockPool pool = NewPool(totalBlocks: 4, workerId: "w7");
        for (int round = 0; round < 3; round++)
        {
            KvSequence s = AllocateComputed(pool, Tokens(32, start: round * 100));
            pool.Release(s);
        }

        pool.Clear();

        Assert.Equal(Enumerable.Range(1, _sink.Events.Count).Select(i => (long)i), _sink.Events.Select(e => e.EventId));
        Assert.All(_sink.Events, e => Assert.Equal("w7", e.WorkerId));
        Assert.All(_sink.Events, e => Assert.Equal(StorageTier.Device, e.Tier));
        Assert.IsType<KvCleared>(_sink.Events[^1].Data);
        Assert.Equal(_sink.Events.Count, pool.LastEventId);
        ReplayResult replay = pool.GetEvents(1, pool.LastEventId);
        Assert.True(replay.IsAvailable);
        Assert.Equal(_sink.Events, replay.Events);
    }

    [Fact]
    public void GetEvents_RangeOlderThanTheBuffer_IsGone()
    {
        BlockPool pool = NewPool(totalBlocks: 64, replay: 3);
        for (int i = 0; i < 5; i++)
        {
            AllocateComputed(pool, Tokens(16, start: i * 100));
        }

        Assert.Equal(5, pool.LastEventId);

        ReplayResult gone = pool.GetEvents(1, 5);
        Assert.False(gone.IsAvailable);
        Assert.Empty(gone.Events);
        Assert.Equal(3, gone.OldestEventId);
        Assert.Equal(5, gone.LastEventId);

        Assert.Equal([3L, 4L, 5L], pool.GetEvents(3, 5).Events.Select(e => e.EventId));
        Assert.Equal([4L, 5L], pool.GetEvents(4, 100).Events.Select(e => e.EventId));
        ReplayResult future = pool.GetEvents(6, 10);
        Assert.True(future.IsAvailable);
        Assert.Empty(future.Events);
    }

    [Fact]
    public void GetEvents_BufferGrowsThenWraps_KeepingTheNewestEventsInOrder()
    {
        BlockPool pool = NewPool(totalBlocks: 512, replay: 100);
        for (int i = 0; i < 150; i++)
        {
            AllocateComputed(pool, Tokens(16, start: i * 20));
        }

        Assert.Equal(150, pool.LastEventId);
        Assert.False(pool.GetEvents(50, 150).IsAvailable);
        ReplayResult kept = pool.GetEvents(51, 150);
        Assert.True(kept.IsAvailable);
        Assert.Equal(Enumerable.Range(51, 100).Select(i => (long)i), kept.Events.Select(e => e.EventId));
        Assert.Equal(_sink.Events.Skip(50), kept.Events);
    }

    [Fact]
    public void GetEvents_NoReplayBuffer_AnyPastRangeIsGone()
    {
        BlockPool pool = NewPool(replay: 0);
        AllocateComputed(pool, Tokens(16));

        Assert.False(pool.GetEvents(1, 1).IsAvailable);
        Assert.Single(_sink.Events);
    }

    [Fact]
    public void Dump_DescribesEveryCachedBlock_ParentsBeforeChildren()
    {
        BlockPool pool = NewPool(totalBlocks: 32);
        int[] shared = Tokens(16);
        KvSequence a = AllocateComputed(pool, [.. shared, .. Tokens(32, start: 100)]);
        KvSequence b = AllocateComputed(pool, [.. shared, .. Tokens(16, start: 200)]);
        KvSequence c = AllocateComputed(pool, Tokens(16, start: 300));
        pool.Release(c); // cached but not held: still in the dump

        KvDump dump = pool.Dump();

        Assert.Equal(pool.LastEventId, dump.LastEventId);
        Assert.All(dump.Events, e => Assert.Equal(dump.LastEventId, e.EventId));
        var seen = new HashSet<ulong>();
        foreach (KvEvent e in dump.Events)
        {
            var stored = Assert.IsType<KvStored>(e.Data);
            if (stored.ParentHash is ulong parent)
            {
                Assert.Contains(parent, seen);
            }

            for (int i = 0; i < stored.Blocks.Count; i++)
            {
                Assert.True(seen.Add(stored.Blocks[i].SeqHash));
            }
        }

        ulong[] expected = [.. a.SequenceHashes, b.SequenceHashes[1], .. c.SequenceHashes];
        Assert.Equal(expected.Order(), seen.Order());
    }

    [Fact]
    public void Clear_EmptiesTheCache_AndEmitsCleared()
    {
        BlockPool pool = NewPool(totalBlocks: 8);
        KvSequence a = AllocateComputed(pool, Tokens(32));
        pool.Release(a);

        pool.Clear();

        Assert.IsType<KvCleared>(_sink.Events[^1].Data);
        BlockPoolStats stats = pool.GetStats();
        Assert.Equal(0, stats.CachedBlocks);
        Assert.Equal(0, stats.EvictableBlocks);
        Assert.Equal(8, stats.FreeBlocks);
        Assert.Equal(0, pool.MatchPrefix([.. a.SequenceHashes]));
        Assert.Empty(pool.Dump().Events);
    }

    [Fact]
    public void Clear_WithLiveSequence_TheirBlocksAreCachedAgainOnRelease()
    {
        BlockPool pool = NewPool(totalBlocks: 8);
        KvSequence a = AllocateComputed(pool, Tokens(33));
        pool.Clear();
        Assert.Equal(0, pool.MatchPrefix([.. a.SequenceHashes]));

        pool.Release(a);

        Assert.Equal(2, pool.MatchPrefix([.. a.SequenceHashes]));
        Assert.IsType<KvStored>(_sink.Events[^1].Data);
    }

    [Fact]
    public void Salt_SeparatesOtherwiseIdenticalPrompts()
    {
        BlockPool pool = NewPool();
        int[] prompt = Tokens(33);
        KvSequence plain = AllocateComputed(pool, prompt);

        Assert.True(pool.TryAllocate(prompt, out KvSequence? lora, salt: "adapter"u8));

        Assert.Equal(0, lora.CachedTokens);
        Assert.NotEqual(plain.SequenceHashes, lora.SequenceHashes);
        Assert.Equal(BlockHasher.ComputeSequenceHashes(prompt, 16, "adapter"u8), lora.SequenceHashes);
    }

    [Fact]
    public void ReleasedSequence_CanBeAllocatedAgain_ReusingItsOwnCachedBlocks()
    {
        BlockPool pool = NewPool(totalBlocks: 8);
        Assert.True(pool.TryAllocate(Tokens(20), out KvSequence? seq));
        pool.MarkComputed(seq, 20);
        for (int i = 0; i < 20; i++)
        {
            Assert.True(pool.TryAppendToken(seq, 1000 + i));
            pool.MarkComputed(seq, seq.TokenCount);
        }

        pool.Release(seq);
        pool.Release(seq); // twice is harmless
        Assert.Equal(8, pool.FreeBlocks);
        Assert.False(seq.IsAllocated);

        Assert.True(pool.TryAllocate(seq));

        Assert.Equal(32, seq.CachedTokens);
        Assert.Equal(40, seq.TokenCount);
        Assert.Equal(3, seq.BlockTable.Count);
        Assert.Equal(1, pool.GetStats().ActiveSequences);
    }

    [Fact]
    public void Operations_OnSequenceOfAnotherPool_Throw()
    {
        BlockPool pool = NewPool();
        BlockPool other = NewPool();
        KvSequence foreign = other.CreateSequence(Tokens(16));

        Assert.Throws<ArgumentException>(() => pool.TryAllocate(foreign));
        Assert.Throws<InvalidOperationException>(() => other.TryAppendToken(foreign, 1));
    }

    [Fact]
    public async Task Readers_OnOtherThreads_SeeConsistentSnapshotsWhileTheSchedulerChurns()
    {
        BlockPool pool = new(new BlockPoolOptions { TotalBlocks = 32, ReplayBufferSize = 50 });
        using var stop = new CancellationTokenSource();
        Task reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                BlockPoolStats stats = pool.GetStats();
                Assert.Equal(stats.TotalBlocks, stats.FreeBlocks + stats.UsedBlocks);
                Assert.True(stats.EvictableBlocks <= stats.CachedBlocks);
                pool.Dump();
                pool.GetEvents(pool.LastEventId - 10, pool.LastEventId);
            }
        });

        var live = new Queue<KvSequence>();
        for (int i = 0; i < 2000; i++)
        {
            if (pool.TryAllocate(Tokens(40, start: (i % 7) * 16), out KvSequence? seq))
            {
                pool.MarkComputed(seq, 40);
                live.Enqueue(seq);
            }

            if (live.Count > 3 || seq is null)
            {
                pool.Release(live.Dequeue());
            }
        }

        await stop.CancelAsync();
        await reader.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData(0, 16, "w", 10, "BlockSize")]
    [InlineData(16, 0, "w", 10, "TotalBlocks")]
    [InlineData(16, 16, " ", 10, "WorkerId")]
    [InlineData(16, 16, "w", -1, "ReplayBufferSize")]
    public void Options_Invalid_ThrowNamingTheKey(int blockSize, int totalBlocks, string workerId, int replay, string key)
    {
        var options = new BlockPoolOptions { BlockSize = blockSize, TotalBlocks = totalBlocks, WorkerId = workerId, ReplayBufferSize = replay };

        ArgumentException ex = Assert.Throws<ArgumentException>(() => new BlockPool(options));

        Assert.Contains("Dynamo:KvCache:" + key, ex.Message);
    }

    private BlockPool NewPool(int totalBlocks = 64, int replay = 100, string workerId = "w0") =>
        new(new BlockPoolOptions { BlockSize = 16, TotalBlocks = totalBlocks, WorkerId = workerId, ReplayBufferSize = replay }, _sink);

    private static KvSequence AllocateComputed(BlockPool pool, int[] tokens)
    {
        Assert.True(pool.TryAllocate(tokens, out KvSequence? seq));
        pool.MarkComputed(seq, tokens.Length);
        return seq;
    }

    private static int[] Tokens(int count, int start = 0) => Enumerable.Range(start, count).ToArray();
}
