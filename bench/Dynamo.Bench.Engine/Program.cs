using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;
using Dynamo.Contracts.Engine;
using Dynamo.Engine;
using Dynamo.Engine.Compute;
using Dynamo.Engine.Model;
using Dynamo.Engine.Safetensors;
using Microsoft.Extensions.Logging.Abstractions;

// P6: decode and prefill throughput of the .NET engine against the machine's limits measured in the same run.
// dotnet run -c Release --project bench/Dynamo.Bench.Engine -- [--model DIR] [--threads N] [--backend auto|openblas|managed]
//   [--decode-tokens 32] [--batches 1,4,16,64] [--prefill 512,2048] [--requests 1000] [--out DIR]
var arguments = Args.Parse(args);
var threads = arguments.Int("threads", Environment.ProcessorCount);
var backendKind = Enum.Parse<ComputeBackendKind>(arguments.String("backend", "auto"), ignoreCase: true);
var decodeTokens = arguments.Int("decode-tokens", 32);
var batches = arguments.Ints("batches", [1, 4, 16, 64]);
var prefills = arguments.Ints("prefill", [512, 2048]);
var memoryRequests = arguments.Int("requests", 1000);
var results = new Dictionary<string, object>();
Console.WriteLine($"# Engine benchmark (P6) — {Environment.ProcessorCount} cores, {threads} threads, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}");

// 1. Limits: copy bandwidth, read bandwidth, sgemm throughput.
var (copyGBs, readGBs) = Limits.MemoryBandwidth(threads);
Console.WriteLine($"memory: copy {copyGBs:F1} GB/s (STREAM convention: bytes read + bytes written), read {readGBs:F1} GB/s");
using var limitBackend = ComputeBackends.Create(backendKind, threads, NullLogger.Instance);
var sgemmGflops = Limits.MatMulGflops(limitBackend, 2048);
Console.WriteLine($"matmul: {limitBackend.Name} {sgemmGflops:F1} GFLOP/s on 2048×2048×2048");
results["copy_gb_s"] = copyGBs;
results["read_gb_s"] = readGBs;
results["sgemm_gflop_s"] = sgemmGflops;
results["backend"] = limitBackend.Name;

if (arguments.Int("probe", 0) == 1)
{
    // Where decode time goes: the vocabulary projection and an MLP-shaped product at decode batch sizes, per backend.
    foreach (var kind in new[] { ComputeBackendKind.OpenBlas, ComputeBackendKind.Managed })
    {
        using var probeBackend = ComputeBackends.Create(kind, threads, NullLogger.Instance);
        foreach (var (n, k) in new[] { (50257, 768), (4096, 768) })
        {
            var weights = new float[n * k];
            new Random(2).NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(weights.AsSpan()));
            TensorPrimitives.Multiply(weights, 0f, weights);
            foreach (var m in new[] { 1, 4, 16, 64, 512 })
            {
                var a = new float[m * k];
                var c = new float[m * n];
                probeBackend.MatMulTransposed(a, weights, c, m, n, k);
                var watch = Stopwatch.StartNew();
                var repeats = 5;
                for (var r = 0; r < repeats; r++)
                {
                    probeBackend.MatMulTransposed(a, weights, c, m, n, k);
                }

                var seconds = watch.Elapsed.TotalSeconds / repeats;
                Console.WriteLine($"probe {probeBackend.Name} [{m}×{k}]·[{n}×{k}]ᵀ: {seconds * 1000:F2} ms, {4.0 * n * k / seconds / 1e9:F1} GB/s of weights, {2.0 * m * n * k / seconds / 1e9:F1} GFLOP/s");
            }
        }
    }

    return;
}

// 2. The 100m model.
var modelDirectory = arguments.String("model", Path.Combine(Path.GetTempPath(), "dynamo-bench-100m"));
if (!File.Exists(Path.Combine(modelDirectory, "config.json")))
{
    var writing = Stopwatch.StartNew();
    await ModelWriter.WriteAsync(modelDirectory, ModelPreset.Params100M, seed: 1, SafetensorsDType.F32);
    Console.WriteLine($"wrote 100m preset to {modelDirectory} in {writing.Elapsed.TotalSeconds:F1} s");
}

var engineOptions = new DotnetEngineOptions
{
    Threads = threads,
    Backend = backendKind,
    MaxNumSeqs = Math.Max(64, batches.Max()),
    MaxNumBatchedTokens = Math.Max(2048, prefills.Max()),
    KvCacheBytes = 3L << 30,
    OutputBufferTokens = decodeTokens + 2,
};
var loading = Stopwatch.StartNew();
await using (var engine = new DotnetEngine(modelDirectory, engineOptions))
{
    var config = engine.Model.Config;
    var weightBytes = engine.Model.WeightBytesPerStep;
    Console.WriteLine($"model: {config.ParameterCount / 1e6:F1}M parameters, {weightBytes / 1e6:F0} MB of weights read per step, loaded in {loading.ElapsedMilliseconds} ms");
    Console.WriteLine($"kv: {config.KvBytesPerToken} bytes/token from config, {engine.KvCache.BytesPerToken} measured ({engine.KvCache.ByteLength / (double)engine.Info.TotalKvBlocks / engine.Info.BlockSize:F0} = pool bytes / (blocks × block size)), {engine.Info.TotalKvBlocks} blocks");
    results["parameters"] = config.ParameterCount;
    results["weight_bytes_per_step"] = weightBytes;
    results["kv_bytes_per_token_config"] = config.KvBytesPerToken;
    results["kv_bytes_per_token_pool"] = engine.KvCache.ByteLength / engine.Info.TotalKvBlocks / engine.Info.BlockSize;

    // Warm-up: JIT, OpenBLAS threads, page faults in the pool.
    await Runs.Decode(engine, 4, 8, salt: 999);

    Console.WriteLine();
    Console.WriteLine("| decode batch | tok/s | ms/step | memory limit tok/s (batch × copy BW ÷ weight bytes) | ratio | read-BW limit | ratio | matmul limit tok/s | time: matmul / attention / other |");
    Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    var salt = 0;
    foreach (var batch in batches)
    {
        var before = engine.Model.Timings;
        var (tokensPerSecond, stepMs) = await Runs.Decode(engine, batch, decodeTokens, ++salt);
        var limit = batch * copyGBs * 1e9 / weightBytes;
        var computeLimit = sgemmGflops * 1e9 / (2.0 * config.ParameterCount);
        var readLimit = batch * readGBs * 1e9 / weightBytes;
        Console.WriteLine($"| {batch} | {tokensPerSecond:F1} | {stepMs:F1} | {limit:F1} | {tokensPerSecond / limit:P0} | {readLimit:F1} | {tokensPerSecond / readLimit:P0} | {computeLimit:F0} ({tokensPerSecond / computeLimit:P0}) | {Runs.Split(before, engine.Model.Timings)} |");
        results[$"decode_b{batch}_tok_s"] = tokensPerSecond;
        results[$"decode_b{batch}_limit_tok_s"] = limit;
    }

    Console.WriteLine();
    Console.WriteLine("| prefill tokens | tok/s | seconds | FLOPs | matmul limit tok/s | ratio | time: matmul / attention / other |");
    Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
    foreach (var length in prefills)
    {
        var before = engine.Model.Timings;
        var seconds = await Runs.Prefill(engine, length, ++salt);
        var flops = Runs.PrefillFlops(config, length);
        var limit = length / (flops / (sgemmGflops * 1e9));
        Console.WriteLine($"| {length} | {length / seconds:F0} | {seconds:F2} | {flops / 1e9:F0} G | {limit:F0} | {length / seconds / limit:P0} | {Runs.Split(before, engine.Model.Timings)} |");
        results[$"prefill_{length}_tok_s"] = length / seconds;
        results[$"prefill_{length}_limit_tok_s"] = limit;
    }
}

// 3. Memory over many requests, on the tiny preset so it takes seconds.
var tinyDirectory = Path.Combine(Path.GetTempPath(), "dynamo-bench-tiny");
if (!File.Exists(Path.Combine(tinyDirectory, "config.json")))
{
    await ModelWriter.WriteAsync(tinyDirectory, ModelPreset.Tiny, seed: 1);
}

await using (var tiny = new DotnetEngine(tinyDirectory, new DotnetEngineOptions { Threads = threads, Backend = backendKind, NumKvBlocks = 4096 }))
{
    await Runs.ManyRequests(tiny, 100);
    var before = Runs.Memory();
    await Runs.ManyRequests(tiny, memoryRequests);
    var after = Runs.Memory();
    Console.WriteLine();
    Console.WriteLine($"memory over {memoryRequests} requests (tiny): working set {before.WorkingSet / 1e6:F1} → {after.WorkingSet / 1e6:F1} MB, managed heap {before.Managed / 1e6:F1} → {after.Managed / 1e6:F1} MB, KV blocks used {tiny.GetLoad().KvBlocksUsed}");
    results["memory_requests"] = memoryRequests;
    results["working_set_before_mb"] = before.WorkingSet / 1e6;
    results["working_set_after_mb"] = after.WorkingSet / 1e6;
    results["managed_before_mb"] = before.Managed / 1e6;
    results["managed_after_mb"] = after.Managed / 1e6;
}

var outDirectory = arguments.String("out", Path.Combine("bench", "results"));
Directory.CreateDirectory(outDirectory);
var outFile = Path.Combine(outDirectory, $"engine-p6-{DateTime.UtcNow:yyyyMMdd-HHmmss}.json");
await File.WriteAllTextAsync(outFile, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine($"\nresults: {outFile}");

internal static class Limits
{
    /// <summary>
    /// Best of several 512 MiB copies and reads (GB/s) spread over <paramref name="threads"/> threads, as the engine
    /// reads its weights; a copy counts its bytes twice (read and written), as STREAM does.
    /// </summary>
    public static (double Copy, double Read) MemoryBandwidth(int threads)
    {
        const int Length = 128 << 20;
        var source = GC.AllocateUninitializedArray<float>(Length, pinned: true);
        var target = GC.AllocateUninitializedArray<float>(Length, pinned: true);
        source.AsSpan().Fill(1f);
        target.AsSpan().Fill(0f);
        var chunk = Length / threads;
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        double bestCopy = 0, bestRead = 0;
        var sums = new float[threads];
        for (var i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            Parallel.For(0, threads, options, t => source.AsSpan(t * chunk, chunk).CopyTo(target.AsSpan(t * chunk, chunk)));
            bestCopy = Math.Max(bestCopy, 2.0 * chunk * threads * 4.0 / watch.Elapsed.TotalSeconds / 1e9);
            watch.Restart();
            Parallel.For(0, threads, options, t => sums[t] += TensorPrimitives.Sum(source.AsSpan(t * chunk, chunk)));
            bestRead = Math.Max(bestRead, chunk * threads * 4.0 / watch.Elapsed.TotalSeconds / 1e9);
        }

        GC.KeepAlive(sums);
        return (bestCopy, bestRead);
    }

    /// <summary>Best of three square products through the backend (GFLOP/s).</summary>
    public static double MatMulGflops(IComputeBackend backend, int n)
    {
        var a = new float[n * n];
        var b = new float[n * n];
        var c = new float[n * n];
        var random = new Random(1);
        for (var i = 0; i < a.Length; i++)
        {
            a[i] = random.NextSingle();
            b[i] = random.NextSingle();
        }

        backend.MatMulTransposed(a, b, c, n, n, n);
        double best = 0;
        for (var i = 0; i < 3; i++)
        {
            var watch = Stopwatch.StartNew();
            backend.MatMulTransposed(a, b, c, n, n, n);
            best = Math.Max(best, 2.0 * n * n * n / watch.Elapsed.TotalSeconds / 1e9);
        }

        return best;
    }
}

internal static class Runs
{
    /// <summary>
    /// Decode throughput of <paramref name="batch"/> concurrent sequences: tokens after every sequence has its
    /// first token, over the time from then to the last token (prefill excluded).
    /// </summary>
    public static async Task<(double TokensPerSecond, double StepMs)> Decode(DotnetEngine engine, int batch, int tokens, int salt)
    {
        var firstTokens = new CountdownEvent(batch);
        var clock = Stopwatch.StartNew();
        var stamps = new List<double>[batch];
        var steps = engine.Steps;
        var stepsAtStart = 0L;
        var decodeStart = 0.0;
        var starter = Task.Run(() =>
        {
            firstTokens.Wait();
            decodeStart = clock.Elapsed.TotalSeconds;
            stepsAtStart = engine.Steps;
        });
        var runs = Enumerable.Range(0, batch).Select(async i =>
        {
            stamps[i] = [];
            var request = new EngineRequest
            {
                RequestId = $"d{salt}-{i}",
                PromptTokens = Prompt(16, (salt * 1000) + i),
                MaxTokens = tokens,
                IgnoreEos = true,
                Sampling = new SamplingOptions { Temperature = 0 },
            };
            var first = true;
            await foreach (var _ in engine.GenerateAsync(request))
            {
                stamps[i].Add(clock.Elapsed.TotalSeconds);
                if (first)
                {
                    first = false;
                    firstTokens.Signal();
                }
            }
        }).ToArray();
        await Task.WhenAll(runs);
        await starter;
        var end = clock.Elapsed.TotalSeconds;
        var decoded = stamps.Sum(s => s.Count(t => t > decodeStart));
        var stepCount = engine.Steps - stepsAtStart;
        _ = steps;
        return (decoded / (end - decodeStart), (end - decodeStart) * 1000 / Math.Max(1, stepCount));
    }

    /// <summary>Seconds from submission to the first token of one prompt (one step when it fits the token budget).</summary>
    public static async Task<double> Prefill(DotnetEngine engine, int length, int salt)
    {
        var request = new EngineRequest
        {
            RequestId = $"p{salt}",
            PromptTokens = Prompt(length, salt),
            MaxTokens = 1,
            IgnoreEos = true,
            Sampling = new SamplingOptions { Temperature = 0 },
        };
        var watch = Stopwatch.StartNew();
        await foreach (var _ in engine.GenerateAsync(request))
        {
        }

        return watch.Elapsed.TotalSeconds;
    }

    /// <summary>Matrix-multiply FLOPs of a prefill: 2 × (layer weights) × tokens, causal attention, and one row of the vocabulary projection.</summary>
    public static double PrefillFlops(LlamaConfig c, int tokens)
    {
        double perToken = 2.0 * c.NumHiddenLayers * ((double)c.HiddenSize * (c.QDim + (2 * c.KvDim)) + ((double)c.QDim * c.HiddenSize) + (3.0 * c.HiddenSize * c.IntermediateSize));
        double attention = 2.0 * 2.0 * c.NumHiddenLayers * c.QDim * (tokens * (tokens + 1) / 2.0);
        return (perToken * tokens) + attention + (2.0 * c.HiddenSize * c.VocabSize);
    }

    public static async Task ManyRequests(DotnetEngine engine, int count)
    {
        var semaphore = new SemaphoreSlim(16);
        var tasks = Enumerable.Range(0, count).Select(async i =>
        {
            await semaphore.WaitAsync();
            try
            {
                var request = new EngineRequest { RequestId = $"m{i}", PromptTokens = Prompt(24, 50_000 + i), MaxTokens = 8, Sampling = new SamplingOptions { Temperature = 0.8f, Seed = (ulong)i } };
                await foreach (var _ in engine.GenerateAsync(request))
                {
                }
            }
            finally
            {
                semaphore.Release();
            }
        });
        await Task.WhenAll(tasks);
    }

    public static string Split(ForwardTimings before, ForwardTimings after) =>
        $"{(after.MatMul - before.MatMul).TotalSeconds:F2} s / {(after.Attention - before.Attention).TotalSeconds:F2} s / {(after.Other - before.Other).TotalSeconds:F2} s";

    public static (long WorkingSet, long Managed) Memory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        return (process.WorkingSet64, GC.GetTotalMemory(forceFullCollection: true));
    }

    public static int[] Prompt(int length, int salt)
    {
        var random = new Random(salt);
        return Enumerable.Range(0, length).Select(_ => random.Next(0, 50000)).ToArray();
    }
}

internal sealed class Args
{
    private readonly Dictionary<string, string> _values = new(StringComparer.OrdinalIgnoreCase);

    public static Args Parse(string[] args)
    {
        var parsed = new Args();
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            parsed._values[args[i].TrimStart('-')] = args[i + 1];
        }

        return parsed;
    }

    public string String(string name, string fallback) => _values.GetValueOrDefault(name, fallback);

    public int Int(string name, int fallback) => _values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public int[] Ints(string name, int[] fallback) =>
        _values.TryGetValue(name, out var v) ? v.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray() : fallback;
}
