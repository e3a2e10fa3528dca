using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;
using static Dynamo.Engine.Tests.EngineHarness;

namespace Dynamo.Engine.Tests;

public sealed class EngineTests
{
    [Fact]
    public async Task Generate_Greedy_MatchesNaiveReferenceAcrossBlockBoundaries()
    {
        await using var engine = await Start();
        var reference = new ReferenceLlama(await TestModels.Tiny());

        foreach (var (length, salt) in new[] { (3, 1), (16, 3), (17, 4), (38, 5) })
        {
            var prompt = Prompt(length, salt);
            var tokens = await Tokens(engine, Greedy(prompt, 20));
            Assert.Equal(reference.Greedy(prompt, 20), tokens);
        }
    }

    [Fact]
    public async Task Generate_AloneAndInBatchOfEight_SameTokens()
    {
        await using var engine = await Start();
        var prompts = Enumerable.Range(0, 8).Select(i => Prompt(5 + (i * 6), i)).ToArray();
        var alone = new List<int[]>();
        foreach (var prompt in prompts)
        {
            alone.Add(await Tokens(engine, Greedy(prompt, 24)));
        }

        var together = await Task.WhenAll(prompts.Select(p => Tokens(engine, Greedy(p, 24))));

        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(alone[i], together[i]);
        }
    }

    [Fact]
    public async Task Generate_ChunkedPrefill_SameTokensAsUnchunked()
    {
        var prompts = Enumerable.Range(0, 4).Select(i => Prompt(30 + (i * 9), 40 + i)).ToArray();
        await using var unchunked = await Start(o => o.MaxNumBatchedTokens = 512);
        await using var chunked = await Start(o => o.MaxNumBatchedTokens = 7);

        var expected = await Task.WhenAll(prompts.Select(p => Tokens(unchunked, Greedy(p, 12))));
        var actual = await Task.WhenAll(prompts.Select(p => Tokens(chunked, Greedy(p, 12))));

        Assert.Equal(expected, actual);
    }

    [Fact]
    public async Task Generate_PrefixCacheHit_SameTokensAndReportsCachedTokens()
    {
        await using var engine = await Start();
        var prompt = Prompt(40, 9);

        var miss = await Collect(engine, Greedy(prompt, 10));
        var hit = await Collect(engine, Greedy(prompt, 10));
        var extended = await Collect(engine, Greedy([.. prompt, .. Prompt(20, 10)], 5));

        Assert.Equal(miss.Select(o => o.TokenId), hit.Select(o => o.TokenId));
        Assert.All(miss, o => Assert.Equal(0, o.CachedTokens));
        Assert.All(hit, o => Assert.Equal(32, o.CachedTokens));
        Assert.Equal(32, extended[0].CachedTokens);
        Assert.True(engine.GetLoad().PrefixCacheHitRate > 0);
    }

    [Fact]
    public async Task Generate_UnderKvPressure_AllCompleteCorrectlyThroughPreemption()
    {
        var prompts = Enumerable.Range(0, 6).Select(i => Prompt(20 + i, 60 + i)).ToArray();
        await using var roomy = await Start();
        var expected = await Task.WhenAll(prompts.Select(p => Tokens(roomy, Greedy(p, 40))));

        // 12 blocks of 16 tokens; six sequences of about 62 tokens need 24. Prefill in chunks of 16 as well.
        await using var tight = await Start(o =>
        {
            o.NumKvBlocks = 12;
            o.MaxNumBatchedTokens = 16;
        });
        var actual = await Task.WhenAll(prompts.Select(p => Tokens(tight, Greedy(p, 40))));

        Assert.Equal(expected, actual);
        Assert.True(tight.Preemptions > 0, "expected the small pool to force preemption");
        await WaitUntil(() => tight.GetLoad().KvBlocksUsed == 0, "used KV blocks to return to zero");
        Assert.Equal(0, tight.GetLoad().RunningRequests);
    }

    [Fact]
    public async Task Generate_MoreRequestsThanMaxNumSeqs_QueueAndAllComplete()
    {
        var prompts = Enumerable.Range(0, 6).Select(i => Prompt(9 + i, 80 + i)).ToArray();
        await using var wide = await Start();
        var expected = await Task.WhenAll(prompts.Select(p => Tokens(wide, Greedy(p, 10))));
        await using var narrow = await Start(o => o.MaxNumSeqs = 2);
        var maxRunning = 0;
        using var done = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                maxRunning = Math.Max(maxRunning, narrow.GetLoad().RunningRequests);
                await Task.Delay(1);
            }
        });

        var actual = await Task.WhenAll(prompts.Select(p => Tokens(narrow, Greedy(p, 10))));
        await done.CancelAsync();
        await watcher;

        Assert.Equal(expected, actual);
        Assert.InRange(maxRunning, 1, 2);
        Assert.Equal(0, narrow.PendingPrefillTokens);
    }

    [Fact]
    public async Task Generate_SlowReader_PausesItsSequenceWithoutLosingTokens()
    {
        var prompt = Prompt(14, 21);
        await using var engine = await Start(o => o.OutputBufferTokens = 2);
        var expected = await Tokens(engine, Greedy(prompt, 30));

        var slow = new List<int>();
        var fast = Tokens(engine, Greedy(Prompt(20, 22), 30));
        await foreach (var output in engine.GenerateAsync(Greedy(prompt, 30)))
        {
            slow.Add(output.TokenId);
            await Task.Delay(2);
        }

        Assert.Equal(expected, slow);
        Assert.Equal(30, (await fast).Length);
    }

    [Fact]
    public async Task Dispose_WithRequestInFlight_EndsItsStreamAsCancelled()
    {
        var engine = await Start();
        var stream = engine.GenerateAsync(Greedy(Prompt(10, 5), 100_000)).GetAsyncEnumerator();
        Assert.True(await stream.MoveNextAsync());

        await engine.DisposeAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            while (await stream.MoveNextAsync())
            {
            }
        });
        await stream.DisposeAsync();
    }

    [Fact]
    public async Task Generate_Cancelled_FreesBlocksAtOnce()
    {
        await using var engine = await Start(o => o.OutputBufferTokens = 4);
        using var cancel = new CancellationTokenSource();
        var received = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var output in engine.GenerateAsync(Greedy(Prompt(50, 1), 2000), cancel.Token))
            {
                Assert.True(engine.GetLoad().KvBlocksUsed > 0);
                if (++received == 3)
                {
                    await cancel.CancelAsync();
                }
            }
        });

        await WaitUntil(() => engine.GetLoad().KvBlocksUsed == 0 && engine.GetLoad().RunningRequests == 0, "the cancelled sequence's blocks to be freed");
    }

    [Fact]
    public async Task Generate_StopTokenAndMaxTokens_FinishWithTheRightReason()
    {
        await using var engine = await Start();
        var prompt = Prompt(12, 3);
        var free = await Tokens(engine, Greedy(prompt, 8));

        var stopped = await Collect(engine, Greedy(prompt, 8) with { StopTokenIds = [free[3]] });
        var limited = await Collect(engine, Greedy(prompt, 5));

        var firstStop = Array.IndexOf(free, free[3]);
        Assert.Equal(free[..(firstStop + 1)], stopped.Select(o => o.TokenId));
        Assert.Equal(FinishReason.Stop, stopped[^1].Finish);
        Assert.Equal(5, limited.Count);
        Assert.Equal(FinishReason.Length, limited[^1].Finish);
        Assert.All(limited[..^1], o => Assert.Null(o.Finish));
    }

    [Fact]
    public async Task Generate_SeededSampling_ReproducibleAloneAndInBatch()
    {
        await using var engine = await Start();
        EngineRequest Sampled(int i) => new()
        {
            RequestId = $"s{i}",
            PromptTokens = Prompt(10, i),
            MaxTokens = 16,
            IgnoreEos = true,
            Sampling = new SamplingOptions { Temperature = 1.5f, TopK = 50, TopP = 0.9f, Seed = (ulong)(1000 + i) },
        };

        var alone = await Tokens(engine, Sampled(0));
        var batch = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Tokens(engine, Sampled(i))));
        var otherSeed = await Tokens(engine, Sampled(0) with { Sampling = Sampled(0).Sampling with { Seed = 99 } });

        Assert.True(alone.SequenceEqual(batch[0]), $"alone {string.Join(",", alone)} batch {string.Join(",", batch[0])}");
        Assert.NotEqual(alone, otherSeed);
    }

    [Fact]
    public async Task KvEvents_ReplayedIntoEmptySet_ReproduceTheHeldBlocks()
    {
        var sink = new RecordingSink();
        await using var engine = await Start(o => o.NumKvBlocks = 20, sink);
        var prompts = Enumerable.Range(0, 10).Select(i => Prompt(33 + (i * 5), i % 4)).ToArray();
        await Task.WhenAll(prompts.Select(p => Tokens(engine, Greedy(p, 12))));

        var replayed = Apply(sink.Events);
        var dumped = Apply(engine.BlockPool.Dump().Events);
        var fromBuffer = Apply(engine.BlockPool.GetEvents(1, long.MaxValue).Events);

        Assert.Contains(sink.Events, e => e.Data is KvRemoved);
        Assert.NotEmpty(dumped);
        Assert.Equal(dumped.Order(), replayed.Order());
        Assert.Equal(dumped.Order(), fromBuffer.Order());
        Assert.Equal(sink.Events.Select(e => e.EventId), Enumerable.Range(1, sink.Events.Count).Select(i => (long)i));
    }

    private static HashSet<ulong> Apply(IEnumerable<KvEvent> events)
    {
        var held = new HashSet<ulong>();
        foreach (var e in events)
        {
            switch (e.Data)
            {
                case KvStored stored:
                    foreach (var block in stored.Blocks)
                    {
                        Assert.True(held.Add(block.SeqHash), $"event {e.EventId} stores {block.SeqHash:x} twice");
                    }

                    break;
                case KvRemoved removed:
                    foreach (var hash in removed.SeqHashes)
                    {
                        Assert.True(held.Remove(hash), $"event {e.EventId} removes {hash:x} which was not stored");
                    }

                    break;
                case KvCleared:
                    held.Clear();
                    break;
            }
        }

        return held;
    }
}
