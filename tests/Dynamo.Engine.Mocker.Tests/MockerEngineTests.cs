using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;
using Dynamo.KvCache;
using static Dynamo.Engine.Mocker.Tests.TestSupport;

namespace Dynamo.Engine.Mocker.Tests;

public sealed class MockerEngineTests
{
    [Fact]
    public async Task Generate_Greedy_IsDeterministicAcrossEngines()
    {
        await using var a = new MockerEngine(Options());
        await using var b = new MockerEngine(Options());
        EngineRequest request = Request(Prompt(40), maxTokens: 30);

        List<EngineOutput> first = await Within(CollectAsync(a, request), "first run");
        List<EngineOutput> second = await Within(CollectAsync(b, request), "second run");

        Assert.Equal(30, first.Count);
        Assert.Equal(first.Select(o => o.TokenId), second.Select(o => o.TokenId));
        Assert.All(first, o => Assert.InRange(o.TokenId, 1, 999)); // never EOS (0) with EosProbability 0
    }

    [Fact]
    public async Task Generate_Sampled_FollowsTheSeed()
    {
        await using var engine = new MockerEngine(Options());
        int[] prompt = Prompt(40);
        EngineRequest Seeded(ulong seed) => Request(prompt, 20, new SamplingOptions { Temperature = 0.8f, Seed = seed });

        int[] seed1 = (await Within(CollectAsync(engine, Seeded(1)), "seed 1")).Select(o => o.TokenId).ToArray();
        int[] seed1Again = (await Within(CollectAsync(engine, Seeded(1)), "seed 1 again")).Select(o => o.TokenId).ToArray();
        int[] seed2 = (await Within(CollectAsync(engine, Seeded(2)), "seed 2")).Select(o => o.TokenId).ToArray();
        int[] greedy = (await Within(CollectAsync(engine, Request(prompt, 20)), "greedy")).Select(o => o.TokenId).ToArray();

        Assert.Equal(seed1, seed1Again);
        Assert.NotEqual(seed1, seed2);
        Assert.NotEqual(seed1, greedy);
    }

    [Fact]
    public async Task Generate_DifferentModelNames_GiveDifferentText()
    {
        await using var a = new MockerEngine(Options(o => o.ModelName = "alpha"));
        await using var b = new MockerEngine(Options(o => o.ModelName = "beta"));
        EngineRequest request = Request(Prompt(20), 10);

        int[] fromA = (await Within(CollectAsync(a, request), "alpha")).Select(o => o.TokenId).ToArray();
        int[] fromB = (await Within(CollectAsync(b, request), "beta")).Select(o => o.TokenId).ToArray();

        Assert.NotEqual(fromA, fromB);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Generate_ReissuedWithGeneratedTokens_ContinuesIdentically(bool sampled)
    {
        // The gateway migrates a request by re-issuing prompt + tokens so far to another worker.
        await using var original = new MockerEngine(Options());
        await using var other = new MockerEngine(Options());
        int[] prompt = Prompt(37);
        SamplingOptions sampling = sampled ? new SamplingOptions { Temperature = 1, Seed = 42 } : new SamplingOptions { Temperature = 0 };

        int[] full = (await Within(CollectAsync(original, Request(prompt, 20, sampling)), "original")).Select(o => o.TokenId).ToArray();
        int[] continued = (await Within(CollectAsync(other, Request([.. prompt, .. full[..7]], 13, sampling)), "continuation"))
            .Select(o => o.TokenId).ToArray();

        Assert.Equal(full[7..], continued);
    }

    [Fact]
    public async Task Generate_SecondIdenticalPrompt_ReportsCachedTokens()
    {
        await using var engine = new MockerEngine(Options());
        int[] prompt = Prompt(64);

        List<EngineOutput> first = await Within(CollectAsync(engine, Request(prompt, 4)), "first");
        List<EngineOutput> second = await Within(CollectAsync(engine, Request(prompt, 4)), "second");

        Assert.All(first, o => Assert.Equal(0, o.CachedTokens));
        Assert.All(second, o => Assert.Equal(48, o.CachedTokens)); // all full blocks but the last: one token must be computed
        Assert.Equal(first.Select(o => o.TokenId), second.Select(o => o.TokenId));
        Assert.Equal(48.0 / 128, engine.GetLoad().PrefixCacheHitRate, 6);
    }

    [Fact]
    public async Task Generate_SharedPrefixWithDifferentTail_ReusesThePrefixBlocks()
    {
        await using var engine = new MockerEngine(Options());
        int[] system = Prompt(32, start: 500);

        await Within(CollectAsync(engine, Request([.. system, 1, 2, 3], 2)), "first");
        List<EngineOutput> second = await Within(CollectAsync(engine, Request([.. system, 4, 5, 6, 7], 2)), "second");

        Assert.Equal(32, second[0].CachedTokens);
    }

    [Fact]
    public async Task Generate_MaxTokens_FinishesWithLength()
    {
        await using var engine = new MockerEngine(Options());

        List<EngineOutput> outputs = await Within(CollectAsync(engine, Request(Prompt(10), 5)), "generation");

        Assert.Equal(5, outputs.Count);
        Assert.All(outputs[..^1], o => Assert.Null(o.Finish));
        Assert.Equal(FinishReason.Length, outputs[^1].Finish);
    }

    [Fact]
    public async Task Generate_Eos_FinishesWithStop_UnlessIgnored()
    {
        await using var engine = new MockerEngine(Options(o =>
        {
            o.EosTokenIds = [0, 7];
            o.EosProbability = 1;
        }));

        List<EngineOutput> stopped = await Within(CollectAsync(engine, Request(Prompt(10), 5)), "eos run");
        List<EngineOutput> ignored = await Within(CollectAsync(engine, Request(Prompt(10), 5) with { IgnoreEos = true }), "ignore-eos run");

        EngineOutput only = Assert.Single(stopped);
        Assert.Contains(only.TokenId, new[] { 0, 7 });
        Assert.Equal(FinishReason.Stop, only.Finish);
        Assert.Equal(5, ignored.Count);
        Assert.All(ignored, o => Assert.Contains(o.TokenId, new[] { 0, 7 }));
        Assert.Equal(FinishReason.Length, ignored[^1].Finish);
    }

    [Fact]
    public async Task Generate_StopTokenId_FinishesWithStopAndEmitsIt()
    {
        await using var engine = new MockerEngine(Options());
        int[] prompt = Prompt(20);
        int[] free = (await Within(CollectAsync(engine, Request(prompt, 12)), "free run")).Select(o => o.TokenId).ToArray();
        int stopAt = Enumerable.Range(3, 8).First(i => Array.IndexOf(free, free[i]) == i);

        List<EngineOutput> stopped = await Within(
            CollectAsync(engine, Request(prompt, 12) with { StopTokenIds = [free[stopAt]] }),
            "stopped run");

        Assert.Equal(free[..(stopAt + 1)], stopped.Select(o => o.TokenId));
        Assert.Equal(FinishReason.Stop, stopped[^1].Finish);
    }

    [Fact]
    public async Task Generate_ReachingTheContextLength_FinishesWithLength()
    {
        await using var engine = new MockerEngine(Options(o => o.MaxContextLength = 64));

        List<EngineOutput> outputs = await Within(CollectAsync(engine, Request(Prompt(60), 100)), "generation");

        Assert.Equal(4, outputs.Count);
        Assert.Equal(FinishReason.Length, outputs[^1].Finish);
    }

    [Fact]
    public async Task Generate_InvalidRequests_Throw()
    {
        await using var engine = new MockerEngine(Options(o => o.MaxContextLength = 64));

        await Assert.ThrowsAsync<ArgumentException>(() => CollectAsync(engine, Request(Prompt(64), 1)));
        await Assert.ThrowsAsync<ArgumentException>(() => CollectAsync(engine, Request([], 1)));
        await Assert.ThrowsAsync<ArgumentException>(() => CollectAsync(engine, Request(Prompt(4), 0)));
    }

    [Fact]
    public async Task Generate_TinyPool_PreemptsAndStillCompletesEveryRequestWithUnchangedTokens()
    {
        // 8 blocks of 16 tokens; 4 requests that each grow to 80 tokens (5 blocks) cannot all fit.
        MockerOptions Tiny(MockerOptions o)
        {
            o.TotalKvBlocks = 8;
            o.MaxContextLength = 128;
            return o;
        }

        await using var engine = new MockerEngine(Tiny(Options()));
        await using var reference = new MockerEngine(Options());
        EngineRequest[] requests = Enumerable.Range(0, 4).Select(i => Request(Prompt(20, start: 100 * i), 60, id: $"r{i}")).ToArray();

        List<EngineOutput>[] results = await Within(Task.WhenAll(requests.Select(r => CollectAsync(engine, r))), "all requests on the tiny pool");

        Assert.True(engine.Preemptions > 0, "expected the tiny pool to preempt");
        for (int i = 0; i < requests.Length; i++)
        {
            List<EngineOutput> alone = await Within(CollectAsync(reference, requests[i]), "reference run");
            Assert.Equal(alone.Select(o => o.TokenId), results[i].Select(o => o.TokenId));
            Assert.Equal(FinishReason.Length, results[i][^1].Finish);
        }

        await WaitUntilAsync(engine, () => engine.GetLoad().KvBlocksUsed == 0, "blocks to be freed");
    }

    [Fact]
    public async Task Generate_CancelledByToken_RemovesTheSequenceAndFreesItsBlocks()
    {
        await using var engine = new MockerEngine(LongContext());
        using var cts = new CancellationTokenSource();
        int seen = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Within(Consume(), "cancellation"));

        await WaitUntilAsync(engine, () => engine.GetLoad() is { RunningRequests: 0, KvBlocksUsed: 0 }, "the cancelled sequence to be dropped");

        async Task Consume()
        {
            await foreach (EngineOutput _ in engine.GenerateAsync(Request(Prompt(40), 90_000), cts.Token))
            {
                if (++seen == 3)
                {
                    await cts.CancelAsync();
                }
            }
        }
    }

    [Fact]
    public async Task Generate_AbandonedEnumeration_FreesBlocks()
    {
        await using var engine = new MockerEngine(LongContext());

        await foreach (EngineOutput _ in engine.GenerateAsync(Request(Prompt(40), 90_000)))
        {
            break;
        }

        await WaitUntilAsync(engine, () => engine.GetLoad() is { RunningRequests: 0, WaitingRequests: 0, KvBlocksUsed: 0 }, "the abandoned sequence to be dropped");
    }

    [Fact]
    public async Task Generate_SlowReader_IsNotBufferedWithoutLimit()
    {
        MockerOptions options = LongContext();
        options.OutputBufferSize = 8;
        await using var engine = new MockerEngine(options);
        var steps = 0;
        engine.StepStarted += _ => Interlocked.Increment(ref steps);
        await using IAsyncEnumerator<EngineOutput> reader = engine.GenerateAsync(Request(Prompt(16), 90_000)).GetAsyncEnumerator();
        Assert.True(await Within(reader.MoveNextAsync().AsTask(), "first token"));

        // The loop stops scheduling the sequence once 8 tokens wait unread (1 read + 8 = 9 steps), then idles.
        await WaitUntilAsync(engine, () => engine.IsIdle && Volatile.Read(ref steps) >= 9, "the loop to idle on a full buffer");
        Assert.Equal(9, Volatile.Read(ref steps));

        // Reading wakes it again.
        for (int i = 0; i < 20; i++)
        {
            Assert.True(await Within(reader.MoveNextAsync().AsTask(), $"token {i + 2}"));
        }
    }

    [Fact]
    public async Task Generate_PublishesKvEvents_AndExposesReplayAndDump()
    {
        var sink = new RecordingSink();
        await using var engine = new MockerEngine(Options(o => o.WorkerId = "mock-1"), kvEventSink: sink);

        await Within(CollectAsync(engine, Request(Prompt(50), 30)), "generation");

        Assert.NotEmpty(sink.Events);
        Assert.All(sink.Events, e => Assert.Equal("mock-1", e.WorkerId));
        Assert.Equal(sink.Events.Count, engine.LastEventId);
        Assert.Equal(sink.Events, engine.GetEvents(1, engine.LastEventId).Events);

        // 50 prompt + 30 generated tokens, but the last sampled token never gets KV: 79 computed, 4 full blocks cached.
        KvDump dump = engine.Dump();
        Assert.Equal(4, dump.Events.Sum(e => ((KvStored)e.Data).Blocks.Count));
    }

    [Fact]
    public async Task GetLoad_ReportsRunningWaitingAndBlocks()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        await using var engine = new MockerEngine(Options(o =>
        {
            o.ZeroDelay = false;
            o.MaxNumSeqs = 1;
        }), time);
        var steps = System.Threading.Channels.Channel.CreateUnbounded<MockerStep>();
        engine.StepStarted += s => steps.Writer.TryWrite(s);

        Task<List<EngineOutput>> first = CollectAsync(engine, Request(Prompt(40), 3, id: "a"));
        Task<List<EngineOutput>> second = CollectAsync(engine, Request(Prompt(40, start: 300), 3, id: "b"));
        await Within(steps.Reader.ReadAsync().AsTask(), "the first step");
        await WaitUntilAsync(engine, () => engine.GetLoad().WaitingRequests == 1, "the second request to queue");

        EngineLoad load = engine.GetLoad();
        Assert.Equal(1, load.RunningRequests);
        Assert.Equal(1, load.WaitingRequests);
        Assert.Equal(3, load.KvBlocksUsed);
        Assert.Equal(256, load.KvBlocksTotal);

        while (!(first.IsCompleted && second.IsCompleted))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(first, second, steps.Reader.WaitToReadAsync().AsTask()).WaitAsync(WaitLimit);
            while (steps.Reader.TryRead(out _))
            {
            }
        }

        Assert.Equal(3, (await first).Count);
        Assert.Equal(3, (await second).Count);
    }

    [Fact]
    public async Task DisposeAsync_FailsRequestsInFlight_AndRejectsNewOnes()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var engine = new MockerEngine(Options(o => o.ZeroDelay = false), time);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        engine.StepStarted += _ => started.TrySetResult();
        Task<List<EngineOutput>> inFlight = CollectAsync(engine, Request(Prompt(40), 10));
        await Within(started.Task, "the first step");

        await Within(engine.DisposeAsync().AsTask(), "dispose");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Within(inFlight, "the in-flight request to fail"));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => CollectAsync(engine, Request(Prompt(4), 1)));
        Assert.Equal(0, engine.GetKvStats().UsedBlocks);
    }

    [Fact]
    public async Task HundredsOfEngines_RunInOneProcess()
    {
        MockerEngine[] engines = Enumerable.Range(0, 300)
            .Select(i => new MockerEngine(Options(o => o.WorkerId = $"w{i}")))
            .ToArray();
        try
        {
            List<EngineOutput>[] results = await Within(
                Task.WhenAll(engines.SelectMany((e, i) => new[] { CollectAsync(e, Request(Prompt(64, start: i), 8)), CollectAsync(e, Request(Prompt(64, start: i), 8)) })),
                "600 requests on 300 engines");

            Assert.All(results, r => Assert.Equal(8, r.Count));
        }
        finally
        {
            foreach (MockerEngine engine in engines)
            {
                await engine.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Info_DescribesTheEngine()
    {
        await using var engine = new MockerEngine(Options());

        Assert.Equal("test-model", engine.Info.ModelName);
        Assert.Equal("mocker", engine.Info.EngineKind);
        Assert.Equal(256, engine.Info.TotalKvBlocks);
        Assert.Equal(16, engine.Info.BlockSize);
        Assert.Equal(512, engine.Info.MaxContextLength);
        Assert.Equal([0], engine.Info.EosTokenIds);
    }

    private static MockerOptions LongContext() => Options(o =>
    {
        o.MaxContextLength = 100_000;
        o.TotalKvBlocks = 7000;
    });
}
