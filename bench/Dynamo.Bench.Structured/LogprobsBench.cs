using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Dynamo.Contracts.Engine;
using Dynamo.Engine;
using Dynamo.Engine.Model;
using Dynamo.Engine.Sampling;

/// <summary>
/// Log-probabilities (bench/README.md, "Log-probabilities"): the per-token cost of top 0 and top 20 against a decode
/// step of the `small` preset at batch 1. (1) The engine decodes with logprobs off, top 0 and top 20, interleaved,
/// and the time between tokens of each is compared (noisy on a shared box); (2) the sampler alone is timed on a
/// row of the model's vocabulary, plain and with each top count, sampled (temperature 1) and greedy: the isolated
/// extra per token is the figure to read.
/// </summary>
internal static class LogprobsBench
{
    public static async Task RunAsync(int threads, int tokens, int rounds, string outDir)
    {
        var modelDir = Path.Combine(Path.GetTempPath(), "dynamo-bench-structured-small");
        if (!File.Exists(Path.Combine(modelDir, "config.json")))
        {
            await ModelWriter.WriteAsync(modelDir, ModelPreset.Small, seed: 1);
        }

        var vocab = ModelPresets.Get(ModelPreset.Small).VocabSize;
        Console.WriteLine($"# Log-probabilities benchmark — {Environment.ProcessorCount} cores, {threads} engine threads, vocabulary {vocab}, load {Load()}");
        var prompt = Enumerable.Range(0, 32).Select(i => 1 + (i * 7919 % 50000)).ToArray();
        int?[] modes = [null, 0, 20];
        var steps = modes.ToDictionary(m => m ?? -1, _ => new List<double>());
        await using (var engine = new DotnetEngine(modelDir, new DotnetEngineOptions { Threads = threads, NumKvBlocks = 1024, MaxNumSeqs = 4 }))
        {
            await StepAsync(engine, prompt, 16, null, 0);
            for (var round = 0; round < rounds; round++)
            {
                foreach (var mode in modes)
                {
                    steps[mode ?? -1].Add(await StepAsync(engine, prompt, tokens, mode, (ulong)round + 1));
                }
            }
        }

        var step = Median(steps[-1]);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"engine, decode step at batch 1 (median of {rounds} rounds of {tokens} tokens): off {step:F2} ms, top 0 {Median(steps[0]):F2} ms ({Median(steps[0]) / step:F3}), top 20 {Median(steps[20]):F2} ms ({Median(steps[20]) / step:F3})"));

        // The sampler alone on rows of random logits of the vocabulary's width.
        var random = new Random(1);
        var rows = Enumerable.Range(0, 64).Select(_ => Enumerable.Range(0, vocab).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray()).ToArray();
        var sampler = new Sampler(vocab);
        var scratch = new float[vocab];
        var results = new List<Dictionary<string, object>>();
        Console.WriteLine();
        Console.WriteLine("| sampling | sampler alone, logprobs off (µs) | extra per token, top 0 (µs) | extra per token, top 20 (µs) | top 0 ÷ decode step | top 20 ÷ decode step |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var (name, options) in new[] { ("temperature 1", new SamplingOptions { Temperature = 1f, Seed = 1 }), ("greedy", new SamplingOptions { Temperature = 0 }) })
        {
            // Modes interleaved round by round (the box is shared), median per mode.
            var perMode = modes.ToDictionary(m => m ?? -1, _ => new List<double>());
            for (var round = 0; round < 4 * rounds + 1; round++)
            {
                foreach (var mode in modes)
                {
                    var micros = SamplerMicros(sampler, rows, scratch, options, mode);
                    if (round > 0)
                    {
                        // Round 0 is the JIT's.
                        perMode[mode ?? -1].Add(micros);
                    }
                }
            }

            var times = perMode.ToDictionary(p => p.Key, p => Median(p.Value));
            var off = times[-1];
            var extra0 = times[0] - off;
            var extra20 = times[20] - off;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {off:F0} | {extra0:F0} | {extra20:F0} | {extra0 / 1000 / step:P1} | {extra20 / 1000 / step:P1} |"));
            results.Add(new Dictionary<string, object>
            {
                ["sampling"] = name,
                ["decode_step_ms"] = step,
                ["decode_step_top0_ms"] = Median(steps[0]),
                ["decode_step_top20_ms"] = Median(steps[20]),
                ["sampler_off_us"] = off,
                ["extra_top0_us"] = extra0,
                ["extra_top20_us"] = extra20,
            });
        }

        Directory.CreateDirectory(outDir);
        var path = Path.Combine(outDir, "logprobs.json");
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"results: {path}");
    }

    /// <summary>Mean µs per Sample call over the rows (each row copied in first, as the engine's row is fresh each step; the copy is timed in every mode alike).</summary>
    private static double SamplerMicros(Sampler sampler, float[][] rows, float[] scratch, SamplingOptions options, int? top)
    {
        var state = new SamplingState(options);
        var start = Stopwatch.GetTimestamp();
        foreach (var row in rows)
        {
            row.CopyTo(scratch, 0);
            sampler.Sample(scratch, state, top, out _);
        }

        return Stopwatch.GetElapsedTime(start).TotalMicroseconds / rows.Length;
    }

    private static async Task<double> StepAsync(DotnetEngine engine, int[] prompt, int maxTokens, int? logprobs, ulong seed)
    {
        var request = new EngineRequest
        {
            RequestId = Guid.NewGuid().ToString("N"),
            PromptTokens = prompt,
            MaxTokens = maxTokens,
            IgnoreEos = true,
            Sampling = new SamplingOptions { Temperature = 1f, Seed = seed },
            Logprobs = logprobs,
        };
        var count = 0;
        long first = 0, last = 0;
        await foreach (var output in engine.GenerateAsync(request, CancellationToken.None))
        {
            last = Stopwatch.GetTimestamp();
            if (count++ == 0)
            {
                first = last;
            }
        }

        return Stopwatch.GetElapsedTime(first, last).TotalMilliseconds / Math.Max(1, count - 1);
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
}
