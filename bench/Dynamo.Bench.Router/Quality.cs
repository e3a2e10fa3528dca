using System.Diagnostics;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;
using Dynamo.Engine.Mocker;
using Dynamo.KvCache;
using Dynamo.Router;
using Dynamo.Router.Indexing;
using Dynamo.Router.Kv;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Events;

namespace Dynamo.Bench.Router;

/// <summary>
/// First quality figure: 8 mocker workers at a speed-up (real block pools, prefix caching, KV events over the
/// in-process event plane), a shared-prefix workload (requests = one of D documents + a unique question), Poisson
/// arrivals; the same request stream through each router. TTFT is reported in simulated time (wall × speed-up).
/// </summary>
internal static class Quality
{
    public sealed record Options
    {
        public int Workers { get; init; } = 8;
        public double Speedup { get; init; } = 5;
        public int Requests { get; init; } = 2000;
        public double Rate { get; init; } = 60;
        public int Documents { get; init; } = 32;
        public int DocumentTokens { get; init; } = 2048;
        public int QuestionTokens { get; init; } = 128;
        public int OutputTokens { get; init; } = 32;
        public int KvBlocks { get; init; } = 2048;
        public int Seed { get; init; } = 1;
        public double PrefillLoadScale { get; init; } = 1.0;
        public double Temperature { get; init; }

        /// <summary>The KV router's cost: predicted (the default) or blocks; --prefill-load-scale applies to blocks only.</summary>
        public KvCostModel Cost { get; init; } = KvCostModel.Predicted;
    }

    public static async Task<Dictionary<string, object>> RunAsync(Options options, IReadOnlyList<string> modes)
    {
        Console.WriteLine($"{options.Workers} mocker workers × {options.KvBlocks} KV blocks, speed-up {options.Speedup}; {options.Requests} requests at {options.Rate}/s (simulated), " +
            $"{options.Documents} documents of {options.DocumentTokens} tokens + {options.QuestionTokens} unique tokens, {options.OutputTokens} output tokens; " +
            $"kv: cost {options.Cost}, prefill load scale {options.PrefillLoadScale}, temperature {options.Temperature}");
        var results = new Dictionary<string, object>();
        Console.WriteLine("| router | TTFT p50 ms | TTFT p99 ms | hit rate (cached / prompt tokens) | router predicted hit rate | requests per worker (min–max) | decision p50 / p99 µs |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var mode in modes)
        {
            var run = await RunOneAsync(options, mode);
            Console.WriteLine($"| {mode} | {run.TtftP50:F0} | {run.TtftP99:F0} | {run.HitRate:P1} | {run.PredictedHitRate:P1} | {run.MinPerWorker}–{run.MaxPerWorker} | {run.DecisionP50:F1} / {run.DecisionP99:F1} |");
            results[mode] = run;
        }

        return results;
    }

    private static async Task<Run> RunOneAsync(Options o, string mode)
    {
        if (!RouterOptions.TryParseMode(mode, out var routerMode))
        {
            throw new ArgumentException($"unknown router '{mode}'");
        }

        var plane = new InProcessEventPlane();
        var discovery = new InProcessDiscovery();
        var engines = new Dictionary<string, MockerEngine>();
        var instances = new List<WorkerInstance>();
        var leases = new List<IAsyncDisposable>();
        for (var i = 0; i < o.Workers; i++)
        {
            var id = $"worker-{i}";
            engines[id] = new MockerEngine(
                new MockerOptions { ModelName = "bench", WorkerId = id, TotalKvBlocks = o.KvBlocks, SpeedupFactor = o.Speedup, MaxContextLength = 16384 },
                TimeProvider.System,
                new PlaneSink(plane));
            var instance = IndexFixture.Worker(id) with { TotalKvBlocks = o.KvBlocks };
            instances.Add(instance);
            leases.Add(await discovery.RegisterAsync(instance));
        }

        var router = RouterFactory.Create(
            new RouterOptions { Mode = routerMode, Seed = o.Seed, ReplicaSync = false, Cost = o.Cost, PrefillLoadScale = o.PrefillLoadScale, Temperature = o.Temperature },
            new RouterServices { Events = plane, Discovery = discovery, KvEventControl = new KvEventSourceControl(id => engines.GetValueOrDefault(id)) });
        if (router is KvRouter { Indexer: { } indexer })
        {
            await indexer.WhenSyncedAsync();
        }

        var random = new Random(o.Seed);
        var documents = Enumerable.Range(0, o.Documents).Select(_ => IndexFixture.Tokens(random, o.DocumentTokens)).ToArray();
        var ttfts = new double[o.Requests];
        var decisionsUs = new double[o.Requests];
        var cached = new long[o.Requests];
        var perWorker = new Dictionary<string, int>();
        long promptTokens = 0;
        long predictedBlocks = 0;
        long promptBlocks = 0;
        var tasks = new List<Task>(o.Requests);
        var clock = Stopwatch.StartNew();
        var arrival = 0.0;
        for (var r = 0; r < o.Requests; r++)
        {
            arrival += -Math.Log(1 - random.NextDouble()) / o.Rate;
            var due = TimeSpan.FromSeconds(arrival / o.Speedup);
            if (due > clock.Elapsed)
            {
                await Task.Delay(due - clock.Elapsed);
            }

            int[] prompt = [.. documents[random.Next(documents.Length)], .. IndexFixture.Tokens(random, o.QuestionTokens)];
            promptTokens += prompt.Length;
            var started = Stopwatch.GetTimestamp();
            var decision = router.Select(new RoutingRequest($"r{r}", "bench", prompt, o.OutputTokens), instances);
            decisionsUs[r] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            predictedBlocks += decision.OverlapBlocks;
            promptBlocks += prompt.Length / IndexFixture.BlockSize;
            perWorker[decision.Worker.InstanceId] = perWorker.GetValueOrDefault(decision.Worker.InstanceId) + 1;
            var index = r;
            tasks.Add(Task.Run(async () =>
            {
                var engine = engines[decision.Worker.InstanceId];
                var request = new EngineRequest { RequestId = decision.RequestId, PromptTokens = prompt, MaxTokens = o.OutputTokens, IgnoreEos = true };
                var first = true;
                try
                {
                    await foreach (var output in engine.GenerateAsync(request))
                    {
                        if (first)
                        {
                            first = false;
                            ttfts[index] = Stopwatch.GetElapsedTime(started).TotalMilliseconds * o.Speedup;
                            cached[index] = output.CachedTokens;
                            router.MarkPrefilled(decision);
                        }
                    }
                }
                finally
                {
                    router.Complete(decision);
                }
            }));
        }

        await Task.WhenAll(tasks);
        var ttft = Summary.Of(ttfts);
        var decisions = Summary.Of(decisionsUs);
        if (router is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }

        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }

        foreach (var engine in engines.Values)
        {
            await engine.DisposeAsync();
        }

        return new Run(
            ttft.P50,
            ttft.P99,
            (double)cached.Sum() / promptTokens,
            (double)predictedBlocks / promptBlocks,
            instances.Min(w => perWorker.GetValueOrDefault(w.InstanceId)),
            perWorker.Values.Max(),
            decisions.P50,
            decisions.P99);
    }

    public sealed record Run(double TtftP50, double TtftP99, double HitRate, double PredictedHitRate, int MinPerWorker, int MaxPerWorker, double DecisionP50, double DecisionP99);

    private sealed class PlaneSink(IEventPlane plane) : IKvEventSink
    {
        public void Publish(KvEvent kvEvent)
        {
            var pending = plane.PublishAsync(EventSubjects.KvEvents, kvEvent);
            if (!pending.IsCompletedSuccessfully)
            {
                pending.AsTask().GetAwaiter().GetResult();
            }
        }
    }
}
