using System.Diagnostics;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;
using Dynamo.KvCache;
using Dynamo.Router;
using Dynamo.Router.Indexing;
using Dynamo.Router.Kv;

namespace Dynamo.Bench.Router;

/// <summary>P3: decision latency per call (p50/p99), event ingestion on one core, memory per (block, worker) pair.</summary>
internal static class P3
{
    /// <param name="busyCostMs">The router's <see cref="RouterOptions.BusyCostMs"/>; null: its default.</param>
    public static Dictionary<string, object> Run(int decisions, int workers = 64, int shortPerWorker = 72, bool ingestion = true, double? busyCostMs = null)
    {
        var results = new Dictionary<string, object>();
        var busyCost = busyCostMs ?? new RouterOptions().BusyCostMs;
        Console.WriteLine($"building the index: {workers} workers, {shortPerWorker} × 4K-token and 1 × 32K-token prompts each, busy cost {busyCost} ms ...");
        var fixture = IndexFixture.Build(workers, shortPerWorker, busyCostMs: busyCost);
        results["busy_cost_ms"] = busyCost;
        var index = fixture.Router.Index;
        var pairs = index.Pairs;
        Console.WriteLine($"index: {index.DistinctBlocks:N0} blocks, {pairs:N0} (block, worker) pairs, table {index.TableBytes / 1048576.0:F1} MiB, " +
            $"heap growth {fixture.BuildBytes / 1048576.0:F1} MiB, built from events in {fixture.BuildTime.TotalSeconds:F2} s");
        var perPair = (double)index.TableBytes / pairs;
        var perPairHeap = (double)fixture.BuildBytes / pairs;
        Console.WriteLine($"memory per (block, worker) pair: {perPair:F1} B (hash table), {perPairHeap:F1} B (whole heap growth)");
        results["workers"] = workers;
        results["index_blocks"] = index.DistinctBlocks;
        results["index_pairs"] = pairs;
        results["bytes_per_pair_table"] = perPair;
        results["bytes_per_pair_heap"] = perPairHeap;

        var random = new Random(3);
        var cases = new (string Name, Func<int, int[]> Prompt, int Count)[]
        {
            ("4K tokens, all 256 blocks on one worker (first 64 on all)", i => fixture.ShortHits[i % fixture.ShortHits.Count], decisions),
            ($"4K tokens, system prompt only (64 blocks on all {workers} workers)", i => [.. fixture.SystemPrompt, .. IndexFixture.Tokens(random, IndexFixture.ShortTokens - IndexFixture.SystemTokens)], decisions),
            ("4K tokens, nothing cached", _ => IndexFixture.Tokens(random, IndexFixture.ShortTokens), decisions),
            ("32K tokens, all 2048 blocks on one worker", i => fixture.LongHits[i % fixture.LongHits.Count], Math.Max(200, decisions / 8)),
            ("32K tokens, nothing cached", _ => IndexFixture.Tokens(random, IndexFixture.LongTokens), Math.Max(200, decisions / 8)),
        };

        var latency = new List<Dictionary<string, object>>();
        Console.WriteLine();
        Console.WriteLine($"Decision latency: {Rounds} rounds of N decisions per case; the round with the lowest p99 is shown (the others were disturbed");
        Console.WriteLine("more by whatever else ran on the machine), with every round's p99 beside it.");
        Console.WriteLine("Uninterrupted: the samples during which this thread was not switched out (getrusage(RUSAGE_THREAD) context switches).");
        Console.WriteLine("| prompt | decisions | p50 µs | p99 µs | mean µs | p99 of each round µs | uninterrupted p50 / p99 µs (share interrupted) | hashing alone, p50 µs | index match alone, p50 µs |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (name, makePrompt, count) in cases)
        {
            // Prompts are made before timing: the gateway hands the router tokens it already has.
            var prompts = Enumerable.Range(0, Math.Min(count, 512)).Select(makePrompt).ToArray();
            var rounds = Measure(fixture, prompts, count);
            var best = rounds.MinBy(r => r.P99);
            var timings = best.All;
            var hashing = MeasureHashing(prompts, Math.Min(count, 2000));
            var matching = MeasureMatching(fixture, prompts, Math.Min(count, 2000));
            Console.Error.WriteLine($"  {name}: hashing alone p50 {hashing.P50:F1} p99 {hashing.P99:F1}; matching alone p50 {matching.P50:F1} p99 {matching.P99:F1}");
            Console.Error.WriteLine($"  {name}: p90 {timings.P90:F1}, p99.9 {timings.P999:F1}, max {timings.Max:F1} µs; uninterrupted p99.9 {best.Uninterrupted.P999:F1}");
            var each = string.Join(" / ", rounds.Select(r => r.P99.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)));
            Console.WriteLine($"| {name} | {count} | {timings.P50:F1} | {timings.P99:F1} | {timings.Mean:F1} | {each} | {best.Uninterrupted.P50:F1} / {best.Uninterrupted.P99:F1} ({best.InterruptedShare:P2}) | {hashing.P50:F1} | {matching.P50:F1} |");
            latency.Add(new Dictionary<string, object>
            {
                ["case"] = name,
                ["decisions"] = count,
                ["p50_us"] = timings.P50,
                ["p99_us"] = timings.P99,
                ["mean_us"] = timings.Mean,
                ["p99_us_each_round"] = rounds.Select(r => r.P99).ToArray(),
                ["uninterrupted_p50_us"] = best.Uninterrupted.P50,
                ["uninterrupted_p99_us"] = best.Uninterrupted.P99,
                ["interrupted_share"] = best.InterruptedShare,
                ["hashing_p50_us"] = hashing.P50,
                ["matching_p50_us"] = matching.P50,
            });
        }

        results["decision_latency"] = latency;
        Console.WriteLine();
        if (ingestion)
        {
            results["ingestion"] = Ingestion();
        }

        return results;
    }

    private const int Rounds = 3;

    private static Round[] Measure(IndexFixture fixture, int[][] prompts, int count)
    {
        var router = fixture.Router;
        var workers = fixture.Workers;
        WarmUp(() => router.Complete(router.Select(new RoutingRequest("warm", "bench", prompts[0], 64), workers)));
        return Enumerable.Range(0, Rounds).Select(round => MeasureRound(router, workers, prompts, count, round)).ToArray();
    }

    /// <summary>One round: every sample, and the samples the scheduler did not switch away from (see <see cref="ThreadClock"/>).</summary>
    private readonly record struct Round(Summary All, Summary Uninterrupted, double InterruptedShare)
    {
        public double P99 => All.P99;
    }

    private static Round MeasureRound(KvRouter router, IReadOnlyList<WorkerInstance> workers, int[][] prompts, int count, int round)
    {
        var samples = new double[count];
        var quiet = new List<double>(count);
        var inflight = new Queue<RoutingDecision>();
        for (var i = 0; i < count; i++)
        {
            var request = new RoutingRequest($"r{round}-{i}", "bench", prompts[i % prompts.Length], 64);
            var switches = ThreadClock.ContextSwitches();
            var start = Stopwatch.GetTimestamp();
            var decision = router.Select(request, workers);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            if (ThreadClock.ContextSwitches() == switches)
            {
                quiet.Add(samples[i]);
            }

            // Keep a steady 128 requests in flight so the load terms are not all zero.
            inflight.Enqueue(decision);
            if (inflight.Count > 128)
            {
                var done = inflight.Dequeue();
                router.MarkPrefilled(done);
                router.Complete(done);
            }
        }

        while (inflight.Count > 0)
        {
            router.Complete(inflight.Dequeue());
        }

        return new Round(Summary.Of(samples), Summary.Of(quiet), 1 - ((double)quiet.Count / count));
    }

    /// <summary>
    /// Runs <paramref name="action"/> for a second and lets the JIT finish: tiered compilation first runs methods
    /// unoptimized and swaps in optimized code in the background, which a short warm-up would measure instead.
    /// </summary>
    private static void WarmUp(Action action)
    {
        for (var round = 0; round < 2; round++)
        {
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < 2000 || watch.ElapsedMilliseconds < 500; i++)
            {
                action();
            }

            Thread.Sleep(300);
        }
    }

    private static Summary MeasureHashing(int[][] prompts, int count)
    {
        var hashes = new ulong[IndexFixture.LongTokens / IndexFixture.BlockSize];
        WarmUp(() => BlockHasher.ComputeSequenceHashes(prompts[0], IndexFixture.BlockSize, hashes));
        var samples = new double[count];
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            BlockHasher.ComputeSequenceHashes(prompts[i % prompts.Length], IndexFixture.BlockSize, hashes);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        return Summary.Of(samples);
    }

    private static Summary MeasureMatching(IndexFixture fixture, int[][] prompts, int count)
    {
        var index = fixture.Router.Index;
        var slots = fixture.Workers.Select(w => index.TryGetSlot(w.InstanceId, out var slot) ? slot : -1).ToArray();
        var overlaps = new int[slots.Length];
        var hashes = prompts.Select(p => BlockHasher.ComputeSequenceHashes(p, IndexFixture.BlockSize)).ToArray();
        WarmUp(() => index.Match(hashes[0], slots, overlaps));
        var samples = new double[count];
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            index.Match(hashes[i % hashes.Length], slots, overlaps);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        return Summary.Of(samples);
    }

    /// <summary>
    /// Events as 64 engines' block pools emit them under a shared-prefix workload (prefill chunks of 512 tokens,
    /// decode blocks one at a time, evictions), applied through <see cref="KvIndexer.Apply"/> on one thread.
    /// </summary>
    private static Dictionary<string, object> Ingestion()
    {
        const int workers = 64;
        const int target = 2_000_000;
        Console.WriteLine($"recording {target:N0} KV events from {workers} block pools ...");
        var events = RecordEvents(workers, target, out var blocks);
        var stored = events.Count(e => e.Data is KvStored);
        Console.WriteLine($"events: {events.Count:N0} ({stored:N0} stored, {events.Count - stored:N0} removed), {blocks:N0} blocks in them");

        // Warm up the JIT on a throwaway indexer.
        var warm = new KvIndexer(new PrefixIndex(), control: null);
        for (var i = 0; i < 200_000; i++)
        {
            warm.Apply(events[i]);
        }

        var best = double.MaxValue;
        var bestCpu = double.MaxValue;
        for (var round = 0; round < 3; round++)
        {
            var indexer = new KvIndexer(new PrefixIndex(), control: null);
            var cpu = ThreadClock.CpuSeconds();
            var start = Stopwatch.GetTimestamp();
            foreach (var kvEvent in events)
            {
                indexer.Apply(kvEvent);
            }

            var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            best = Math.Min(best, seconds);
            bestCpu = Math.Min(bestCpu, ThreadClock.CpuSeconds() - cpu);
            if (indexer.Stats.EventsApplied != events.Count)
            {
                throw new InvalidOperationException($"applied {indexer.Stats.EventsApplied} of {events.Count}");
            }
        }

        var rate = events.Count / best;
        Console.WriteLine($"ingestion of engine events, one thread: {rate / 1e6:F2} M events/s ({blocks / best / 1e6:F2} M blocks/s, {blocks / (double)events.Count:F1} blocks per event), best of 3 rounds of {best:F2} s; " +
            $"per CPU-second of the thread: {events.Count / bestCpu / 1e6:F2} M events/s (best round {bestCpu:F2} CPU s)");

        // Decode-time traffic: every event one block (a block filled by generated tokens, or one evicted).
        var single = SingleBlockEvents(workers, target);
        var bestSingle = double.MaxValue;
        var bestSingleCpu = double.MaxValue;
        for (var round = 0; round < 3; round++)
        {
            var indexer = new KvIndexer(new PrefixIndex(), control: null);
            var cpu = ThreadClock.CpuSeconds();
            var start = Stopwatch.GetTimestamp();
            foreach (var kvEvent in single)
            {
                indexer.Apply(kvEvent);
            }

            bestSingle = Math.Min(bestSingle, Stopwatch.GetElapsedTime(start).TotalSeconds);
            bestSingleCpu = Math.Min(bestSingleCpu, ThreadClock.CpuSeconds() - cpu);
        }

        var singleRate = single.Count / bestSingle;
        Console.WriteLine($"ingestion of one-block events, one thread: {singleRate / 1e6:F2} M events/s, best of 3 rounds of {bestSingle:F2} s; " +
            $"per CPU-second: {single.Count / bestSingleCpu / 1e6:F2} M events/s");
        return new Dictionary<string, object>
        {
            ["events"] = events.Count,
            ["blocks"] = blocks,
            ["seconds"] = best,
            ["events_per_second"] = rate,
            ["blocks_per_second"] = blocks / best,
            ["single_block_events"] = single.Count,
            ["single_block_events_per_second"] = singleRate,
            ["events_per_cpu_second"] = events.Count / bestCpu,
            ["single_block_events_per_cpu_second"] = single.Count / bestSingleCpu,
        };
    }

    /// <summary>Per worker, a stream of one-block Stored events, each worker keeping 4,096 blocks (older ones Removed).</summary>
    private static List<KvEvent> SingleBlockEvents(int workers, int target)
    {
        var events = new List<KvEvent>(target);
        var random = new Random(6);
        var held = Enumerable.Range(0, workers).Select(_ => new Queue<ulong>()).ToArray();
        var ids = new long[workers];
        var names = Enumerable.Range(0, workers).Select(w => $"worker-{w}").ToArray();
        while (events.Count < target)
        {
            var w = random.Next(workers);
            var worker = names[w];
            if (held[w].Count >= 4096)
            {
                events.Add(new KvEvent(worker, ++ids[w], StorageTier.Device, new KvRemoved([held[w].Dequeue()])));
            }

            var hash = (ulong)random.NextInt64() | 1;
            held[w].Enqueue(hash);
            events.Add(new KvEvent(worker, ++ids[w], StorageTier.Device, new KvStored(null, [new StoredBlock(hash, 0)])));
        }

        return events;
    }

    /// <summary>Drives block pools like engines do and records their events.</summary>
    public static List<KvEvent> RecordEvents(int workers, int target, out long blocks)
    {
        var sink = new ListSink();
        var pools = Enumerable.Range(0, workers)
            .Select(i => new BlockPool(new BlockPoolOptions { WorkerId = $"worker-{i}", TotalBlocks = 4096, ReplayBufferSize = 0 }, sink))
            .ToArray();
        var random = new Random(5);
        var documents = Enumerable.Range(0, 256).Select(_ => IndexFixture.Tokens(random, 1024)).ToArray();
        var requests = 0;
        while (sink.Events.Count < target)
        {
            var pool = pools[requests++ % workers];
            int[] prompt = [.. documents[random.Next(documents.Length)], .. IndexFixture.Tokens(random, 16 * random.Next(4, 64))];
            if (!pool.TryAllocate(prompt, out var sequence))
            {
                continue;
            }

            for (var done = 512; ; done += 512)
            {
                pool.MarkComputed(sequence, Math.Min(done, prompt.Length));
                if (done >= prompt.Length)
                {
                    break;
                }
            }

            for (var t = 0; t < 64 && pool.TryAppendToken(sequence, random.Next(1, 128_000)); t++)
            {
                pool.MarkComputed(sequence, sequence.TokenCount);
            }

            pool.Release(sequence);
        }

        blocks = 0;
        foreach (var kvEvent in sink.Events)
        {
            blocks += kvEvent.Data switch
            {
                KvStored s => s.Blocks.Count,
                KvRemoved r => r.SeqHashes.Count,
                _ => 0,
            };
        }

        return sink.Events;
    }

    private sealed class ListSink : IKvEventSink
    {
        public List<KvEvent> Events { get; } = [];

        public void Publish(KvEvent kvEvent) => Events.Add(kvEvent);
    }
}

internal readonly record struct Summary(double P50, double P99, double Mean, double Max, double P90 = 0, double P999 = 0)
{
    public static Summary Of(IReadOnlyList<double> samples)
    {
        if (samples.Count == 0)
        {
            return default;
        }

        var sorted = samples.Order().ToArray();
        return new Summary(Percentile(sorted, 0.50), Percentile(sorted, 0.99), sorted.Average(), sorted[^1], Percentile(sorted, 0.90), Percentile(sorted, 0.999));
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
