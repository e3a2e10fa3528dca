using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.KvCache;
using Dynamo.Router;
using Dynamo.Router.Kv;
using Dynamo.Runtime.Events;

namespace Dynamo.Bench.Router;

/// <summary>
/// A KV router over 64 workers whose index holds about a million blocks, fed through its indexer as KV events:
/// each worker holds 72 prompts of 4K tokens (all starting with one shared 1K-token system prompt) and one prompt
/// of 32K tokens.
/// </summary>
internal sealed class IndexFixture
{
    public const int BlockSize = 16;
    public const int SystemTokens = 1024;
    public const int ShortTokens = 4096;
    public const int LongTokens = 32768;

    private IndexFixture(KvRouter router, WorkerInstance[] workers, int[] system, List<int[]> shortHits, List<int[]> longHits, long buildBytes, TimeSpan buildTime)
    {
        Router = router;
        Workers = workers;
        SystemPrompt = system;
        ShortHits = shortHits;
        LongHits = longHits;
        BuildBytes = buildBytes;
        BuildTime = buildTime;
    }

    public KvRouter Router { get; }

    public WorkerInstance[] Workers { get; }

    public int[] SystemPrompt { get; }

    /// <summary>Indexed 4K prompts (a sample): all blocks on one worker, the first 64 on every worker.</summary>
    public List<int[]> ShortHits { get; }

    /// <summary>Indexed 32K prompts (one per worker).</summary>
    public List<int[]> LongHits { get; }

    /// <summary>Managed heap growth while the index was built.</summary>
    public long BuildBytes { get; }

    public TimeSpan BuildTime { get; }

    /// <param name="busyCostMs">The router's <see cref="RouterOptions.BusyCostMs"/>; null: its default.</param>
    public static IndexFixture Build(int workerCount = 64, int shortPerWorker = 72, int longPerWorker = 1, double? busyCostMs = null)
    {
        var workers = Enumerable.Range(0, workerCount).Select(i => Worker($"worker-{i}")).ToArray();
        var options = new RouterOptions { Seed = 1, ReplicaSync = false };
        if (busyCostMs is { } busy)
        {
            options.BusyCostMs = busy;
        }

        var router = RouterFactory.CreateKv(
            options,
            new RouterServices { Events = new InProcessEventPlane() });
        var indexer = router.Indexer!;
        var system = Tokens(new Random(7), SystemTokens);
        var shortHits = new List<int[]>();
        var longHits = new List<int[]>();
        var random = new Random(11);
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var watch = global::System.Diagnostics.Stopwatch.StartNew();
        var hashes = new ulong[LongTokens / BlockSize];
        foreach (var worker in workers)
        {
            long eventId = 0;
            for (var s = 0; s < shortPerWorker + longPerWorker; s++)
            {
                var isLong = s >= shortPerWorker;
                var prompt = isLong ? Tokens(random, LongTokens) : [.. system, .. Tokens(random, ShortTokens - SystemTokens)];
                var blocks = BlockHasher.ComputeSequenceHashes(prompt, BlockSize, hashes);
                // One Stored event per 512-token prefill chunk, as an engine emits them.
                for (var start = 0; start < blocks; start += 32)
                {
                    var count = Math.Min(32, blocks - start);
                    var stored = new StoredBlock[count];
                    for (var b = 0; b < count; b++)
                    {
                        stored[b] = new StoredBlock(hashes[start + b], 0);
                    }

                    indexer.Apply(new KvEvent(worker.InstanceId, ++eventId, StorageTier.Device, new KvStored(start == 0 ? null : hashes[start - 1], stored)));
                }

                if (isLong)
                {
                    longHits.Add(prompt);
                }
                else if (s < 2)
                {
                    shortHits.Add(prompt);
                }
            }
        }

        watch.Stop();
        var after = GC.GetTotalMemory(forceFullCollection: true);
        return new IndexFixture(router, workers, system, shortHits, longHits, after - before, watch.Elapsed);
    }

    public static WorkerInstance Worker(string id) => new()
    {
        InstanceId = id,
        Model = "bench",
        Role = WorkerRole.Aggregated,
        Address = new Uri($"http://127.0.0.1:1/{id}/"),
        BlockSize = BlockSize,
        TotalKvBlocks = 65536,
    };

    public static int[] Tokens(Random random, int count)
    {
        var tokens = new int[count];
        for (var i = 0; i < count; i++)
        {
            tokens[i] = random.Next(1, 128_000);
        }

        return tokens;
    }
}
