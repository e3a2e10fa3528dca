using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;
using Dynamo.Router.Indexing;
using Dynamo.Router.Kv;
using Dynamo.Router.Load;
using static Dynamo.Router.Tests.TestSupport;

namespace Dynamo.Router.Tests.Kv;

/// <summary>Hand-made cases of the design's cost: <c>scale·max((active prefill + prompt)/bs − overlap, 0) + active blocks + prompt blocks</c>.</summary>
public sealed class CostSelectionTests
{
    private static readonly WorkerInstance[] Three = [Instance("a"), Instance("b"), Instance("c")];

    [Theory]
    // overlap, prefill tokens, blocks, prompt tokens, scale → cost
    [InlineData(0, 0, 0, 160, 1.0, 20.0)]     // idle, nothing cached: 10 prefill + 10 decode
    [InlineData(8, 0, 0, 160, 1.0, 12.0)]     // 8 of 10 blocks cached: 2 + 10
    [InlineData(10, 0, 0, 160, 1.0, 10.0)]    // all cached: prefill floors at 0
    [InlineData(8, 0, 20, 160, 1.0, 32.0)]    // cached, but two prefilled requests in flight: 2 + 30
    [InlineData(8, 320, 20, 160, 1.0, 52.0)]  // and 320 prompt tokens still prefilling: 22 + 30
    [InlineData(8, 0, 20, 160, 10.0, 50.0)]   // prefill weighted 10x: 20 + 30
    [InlineData(0, 0, 0, 170, 1.0, 21.625)]   // partial block: 10.625 prefill + 11 decode
    [InlineData(4, 0, 0, 160, 0.0, 10.0)]     // scale 0: decode only
    public void Cost_FollowsTheDesignFormula(int overlap, int prefillTokens, int blocks, int promptTokens, double scale, double expected)
    {
        var cost = KvCost.Compute(overlap, new ActiveLoad(1, prefillTokens, blocks), promptTokens, 16, scale);
        Assert.Equal(expected, cost, 9);
    }

    [Fact]
    public void Select_WithSharedPrefix_PicksWorkerHoldingIt()
    {
        var (router, index) = NewRouter();
        var prompt = Tokens(1, 160);
        index.Store(index.GetOrAddWorker("b"), StorageTier.Device, Hashes(prompt).AsSpan(0, 8));

        var decision = router.Select(new RoutingRequest("r", "m", prompt, 16), Three);

        Assert.Equal("b", decision.Worker.InstanceId);
        Assert.Equal(8, decision.OverlapBlocks);
        Assert.Equal(KvRouter.PolicyName, decision.Policy);
    }

    [Fact]
    public void Select_WhenTheHolderIsBusy_LoadOutweighsTheCacheHit()
    {
        var (router, index) = NewRouter();
        var prompt = Tokens(2, 160);
        index.Store(index.GetOrAddWorker("b"), StorageTier.Device, Hashes(prompt).AsSpan(0, 8));
        // Two prefilled 160-token requests on b: 20 blocks. b costs 2 + 30 = 32; a and c cost 20.
        for (var i = 0; i < 2; i++)
        {
            var busy = new RoutingDecision($"busy{i}", Three[1], 0, 160);
            router.Load.Add(busy);
            router.Load.MarkPrefilled(busy);
        }

        var decision = router.Select(new RoutingRequest("r", "m", prompt, 16), Three);

        Assert.NotEqual("b", decision.Worker.InstanceId);
        Assert.Equal(0, decision.OverlapBlocks);
    }

    [Fact]
    public void Select_WithALargePrefillScale_StaysOnTheHolderUnderTheSameLoad()
    {
        var (router, index) = NewRouter(new RouterOptions { Cost = KvCostModel.Blocks, PrefillLoadScale = 10 });
        var prompt = Tokens(3, 160);
        index.Store(index.GetOrAddWorker("b"), StorageTier.Device, Hashes(prompt).AsSpan(0, 8));
        for (var i = 0; i < 2; i++)
        {
            var busy = new RoutingDecision($"busy{i}", Three[1], 0, 160);
            router.Load.Add(busy);
            router.Load.MarkPrefilled(busy);
        }

        // b: 10·2 + 30 = 50; a, c: 10·10 + 10 = 110.
        Assert.Equal("b", router.Select(new RoutingRequest("r", "m", prompt, 16), Three).Worker.InstanceId);
    }

    [Fact]
    public void Select_OnEqualCost_PrefersTheSmallerCache()
    {
        var (router, index) = NewRouter();
        index.Store(index.GetOrAddWorker("a"), StorageTier.Device, Hashes(Tokens(4, 16 * 50)));
        index.Store(index.GetOrAddWorker("b"), StorageTier.Device, Hashes(Tokens(5, 16 * 5)));
        index.Store(index.GetOrAddWorker("c"), StorageTier.Device, Hashes(Tokens(6, 16 * 20)));

        for (var i = 0; i < 20; i++)
        {
            var decision = router.Select(new RoutingRequest($"r{i}", "m", Tokens(100 + i, 64), 16), Three);
            Assert.Equal("b", decision.Worker.InstanceId);
            router.Complete(decision);
        }
    }

    [Fact]
    public void Select_OnFullTies_ChoosesAtRandom()
    {
        var (router, _) = NewRouter();
        var counts = new Dictionary<string, int>();
        for (var i = 0; i < 3000; i++)
        {
            var decision = router.Select(new RoutingRequest($"r{i}", "m", Tokens(7, 64), 16), Three);
            counts[decision.Worker.InstanceId] = counts.GetValueOrDefault(decision.Worker.InstanceId) + 1;
            router.Complete(decision);
        }

        Assert.All(Three, w => Assert.InRange(counts[w.InstanceId], 850, 1150));
    }

    [Fact]
    public void Temperature_SamplesBySoftmaxOfNormalizedCosts()
    {
        var random = new Random(11);
        var picks = new int[2];
        for (var i = 0; i < 20_000; i++)
        {
            picks[WorkerSelector.Select([10.0, 20.0], [0L, 0L], temperature: 1.0, random)]++;
        }

        // p = e^0 / (e^0 + e^-1) = 0.731
        Assert.InRange(picks[0] / 20_000.0, 0.715, 0.747);
        Assert.Equal(0, WorkerSelector.Select([10.0, 20.0], [0L, 0L], temperature: 0, random));
    }

    [Fact]
    public void Temperature_OnEqualCosts_IsUniform()
    {
        var random = new Random(12);
        var picks = new int[4];
        for (var i = 0; i < 20_000; i++)
        {
            picks[WorkerSelector.Select([5.0, 5.0, 5.0, 5.0], [0L, 9L, 0L, 0L], temperature: 0.5, random)]++;
        }

        Assert.All(picks, p => Assert.InRange(p, 4600, 5400));
    }

    [Fact]
    public void Ties_WhileTheIndexChangesUnderTheSelector_PickAmongTheSizesItRead()
    {
        // A live router's cache sizes move while it selects (KV events land between two reads). The selector once
        // counted the tied winners in one pass and re-read the sizes in a second: a worker that stored blocks in
        // between matched nobody, and the second pass ran off the end of the list (a gateway 500).
        var random = new Random(13);
        var picks = new int[4];
        for (var i = 0; i < 4_000; i++)
        {
            var sizes = new GrowingCacheSizes(new int[4]);
            picks[WorkerSelector.Select([5.0, 5.0, 5.0, 5.0], sizes, temperature: 0, random)]++;
            Assert.All(sizes.Reads, reads => Assert.Equal(1, reads));
        }

        Assert.All(picks, p => Assert.InRange(p, 850, 1150));
    }

    /// <summary>Every candidate caches nothing at its first read and 8 blocks at every read after it.</summary>
    private readonly struct GrowingCacheSizes(int[] reads) : ICacheSizes
    {
        public int[] Reads => reads;

        public long Of(int candidate) => reads[candidate]++ == 0 ? 0 : 8;
    }

    [Fact]
    public void SharedSystemPrompt_UnderLoad_SpreadsOverEveryWorker()
    {
        // Dynamo #737: every request starts with the same long system prompt. Once one worker holds it, a router
        // that only counts overlap sends everything there; the load terms must spread the requests instead.
        var workers = new[] { Instance("a"), Instance("b"), Instance("c"), Instance("d") };
        var (router, index) = NewRouter();
        var system = Tokens(20, 1024);
        index.Store(index.GetOrAddWorker("a"), StorageTier.Device, Hashes(system));
        var inflight = new Queue<RoutingDecision>();
        var counts = new Dictionary<string, int>();
        for (var i = 0; i < 400; i++)
        {
            var prompt = Concat(system, Tokens(1000 + i, 64));
            var decision = router.Select(new RoutingRequest($"r{i}", "m", prompt, 128), workers);
            counts[decision.Worker.InstanceId] = counts.GetValueOrDefault(decision.Worker.InstanceId) + 1;

            // The chosen worker now caches the system prompt too (as its KV events would say).
            index.Store(index.GetOrAddWorker(decision.Worker.InstanceId), StorageTier.Device, Hashes(system));
            inflight.Enqueue(decision);
            router.MarkPrefilled(decision);
            if (inflight.Count > 16)
            {
                router.Complete(inflight.Dequeue());
            }
        }

        Assert.Equal(4, counts.Count);
        Assert.All(counts.Values, c => Assert.InRange(c, 80, 120));
    }

    [Fact]
    public void SharedSystemPrompt_Burst_DoesNotPileOntoTheHolder()
    {
        var workers = new[] { Instance("a"), Instance("b"), Instance("c"), Instance("d") };
        var (router, index) = NewRouter();
        var system = Tokens(21, 1024);
        index.Store(index.GetOrAddWorker("a"), StorageTier.Device, Hashes(system));

        // 16 requests arrive before any first token: prefill load counts too.
        var picked = Enumerable.Range(0, 16)
            .Select(i => router.Select(new RoutingRequest($"r{i}", "m", Concat(system, Tokens(2000 + i, 64)), 128), workers).Worker.InstanceId)
            .GroupBy(id => id)
            .ToDictionary(g => g.Key, g => g.Count());

        // The holder's k-th request costs 72k (4 uncached blocks of prefill + 68 blocks); another worker's j-th costs
        // 136j (68 + 68): the holder earns about twice the share of the others, 7 / 3 / 3 / 3, and no more.
        Assert.Equal(4, picked.Count);
        Assert.InRange(picked["a"], 6, 8);
        Assert.All(picked.Where(p => p.Key != "a"), p => Assert.InRange(p.Value, 2, 4));
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(4, 4)]
    public void Predicted_SharedSystemPrompt_PilesOntoItsHolder_UntilTheBalanceThresholdsSpreadIt(int absoluteThreshold, int workersUsed)
    {
        // Every request starts with the same 1K-token system prompt; 40 are in flight. By predicted TTFT alone the
        // holders win (64 tokens to prefill against 1,088); the balance thresholds copy the prefix to the others.
        var workers = new[] { Instance("a"), Instance("b"), Instance("c"), Instance("d") };
        var (router, index) = NewRouter(new RouterOptions { Cost = KvCostModel.Predicted, BalanceAbsoluteThreshold = absoluteThreshold });
        var system = Tokens(20, 1024);
        index.Store(index.GetOrAddWorker("a"), StorageTier.Device, Hashes(system));
        var inflight = new Queue<RoutingDecision>();
        var counts = new Dictionary<string, int>();
        var maxInFlight = 0;
        for (var i = 0; i < 400; i++)
        {
            var decision = router.Select(new RoutingRequest($"r{i}", "m", Concat(system, Tokens(1000 + i, 64)), 128), workers);
            counts[decision.Worker.InstanceId] = counts.GetValueOrDefault(decision.Worker.InstanceId) + 1;
            index.Store(index.GetOrAddWorker(decision.Worker.InstanceId), StorageTier.Device, Hashes(system));
            inflight.Enqueue(decision);
            router.MarkPrefilled(decision);
            maxInFlight = Math.Max(maxInFlight, workers.Max(w => router.Load.Get(w.InstanceId).Requests));
            if (inflight.Count > 40)
            {
                router.Complete(inflight.Dequeue());
            }
        }

        Assert.Equal(workersUsed, counts.Count);
        if (absoluteThreshold == 0)
        {
            Assert.Equal(0, router.Rebalanced);
            return;
        }

        // Spread: no worker ran more than the thresholds allow above the least busy (4 + 1 for the request just placed).
        Assert.True(router.Rebalanced > 0);
        Assert.InRange(maxInFlight, 10, 10 + absoluteThreshold + 1);
        Assert.All(counts.Values, c => Assert.InRange(c, 60, 140));
    }

    [Fact]
    public void Predicted_Holder_LosesToAnIdleWorker_OnceItsQueueOutweighsTheCachedPrefill()
    {
        var workers = new[] { Instance("a"), Instance("b") };
        var (router, index) = NewRouter(new RouterOptions { Cost = KvCostModel.Predicted, BalanceAbsoluteThreshold = 0 });
        var shared = Tokens(22, 4096);
        index.Store(index.GetOrAddWorker("a"), StorageTier.Device, Hashes(shared));

        // Each request's 4,096 cached tokens save a's prefill of them; its queue of 4,096-token tails grows with each.
        var picks = Enumerable.Range(0, 6)
            .Select(i => router.Select(new RoutingRequest($"r{i}", "m", Concat(shared, Tokens(3000 + i, 4096)), 16), workers).Worker.InstanceId)
            .ToList();

        Assert.Equal("a", picks[0]);
        Assert.Contains("b", picks);
    }

    [Fact]
    public void Select_WithTheSameCandidates_SeesWorkersAndLoadThatAppearBetweenCalls()
    {
        // The router reuses the candidates' slots and load counters between calls; each change must still show.
        var (router, index) = NewRouter();
        var prompt = Tokens(30, 160);
        var first = router.Select(new RoutingRequest("r0", "m", prompt, 16), Three);
        Assert.Equal(0, first.OverlapBlocks);
        router.Complete(first);

        // b enters the index after the first call: its blocks count.
        index.Store(index.GetOrAddWorker("b"), StorageTier.Device, Hashes(prompt).AsSpan(0, 8));
        Assert.Equal("b", router.Select(new RoutingRequest("r1", "m", prompt, 16), Three).Worker.InstanceId);

        // r1 left b 10 blocks and 2 of prefill; two prefilled requests more: b costs 4 + 40, a and c 10 + 10.
        for (var i = 0; i < 2; i++)
        {
            var busy = new RoutingDecision($"busy{i}", Three[1], 0, 160);
            router.Load.Add(busy);
            router.Load.MarkPrefilled(busy);
        }

        Assert.NotEqual("b", router.Select(new RoutingRequest("r2", "m", prompt, 16), Three).Worker.InstanceId);

        // b leaves and comes back: its load is forgotten, its slot and blocks are new.
        router.RemoveWorker("b");
        index.Store(index.GetOrAddWorker("b"), StorageTier.Device, Hashes(prompt).AsSpan(0, 8));
        var again = router.Select(new RoutingRequest("r3", "m", prompt, 16), Three);
        Assert.Equal("b", again.Worker.InstanceId);
        Assert.Equal(8, again.OverlapBlocks);
    }

    private static (KvRouter Router, PrefixIndex Index) NewRouter(RouterOptions? options = null)
    {
        // The block cost unless a test asks otherwise: these tests pin the design's cost in blocks.
        options ??= new RouterOptions { Cost = KvCostModel.Blocks };
        var index = new PrefixIndex();
        var load = new ActiveLoadTracker(TimeProvider.System, options.ActiveRequestTtl);
        return (new KvRouter(options, index, load, indexer: null, approximate: null, sync: null, new Random(42)), index);
    }
}
