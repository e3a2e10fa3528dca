using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Dynamo.Contracts.Engine;
using Dynamo.Engine;
using Dynamo.Engine.Model;
using Dynamo.Llm.Structured;
using Dynamo.Llm.Tokenization;

// Structured outputs (bench/README.md, "Structured outputs"): what the token mask costs against a decode step of the
// `small` preset at batch 1, in one run. For each grammar: (1) the engine decodes with and without the constraint,
// interleaved, and the inter-token time of each is compared; (2) the same tokens are replayed through a fresh
// constraint and each step's mask (FillAllowed, applying it to a row of logits, TryAccept) is timed on its own.
// dotnet run -c Release --project bench/Dynamo.Bench.Structured -- [--threads 2] [--tokens 200] [--rounds 4] [--out DIR]
// With --logprobs: what reporting log-probabilities (top 0 and top 20) costs against the same decode step instead.
var threads = (int)Arg("threads", Math.Min(Environment.ProcessorCount, 2));
var tokens = (int)Arg("tokens", 200);
var rounds = (int)Arg("rounds", 4);
var outDir = ArgString("out", Path.Combine("bench", "results"))!;
if (args.Contains("--logprobs"))
{
    await LogprobsBench.RunAsync(threads, tokens, rounds, outDir);
    return;
}

Console.WriteLine($"# Structured outputs benchmark — {Environment.ProcessorCount} cores, {threads} engine threads, {RuntimeInformation.OSDescription}, .NET {Environment.Version}, load {Load()}");

var modelDir = Path.Combine(Path.GetTempPath(), "dynamo-bench-structured-small");
if (!File.Exists(Path.Combine(modelDir, "config.json")))
{
    await ModelWriter.WriteAsync(modelDir, ModelPreset.Small, seed: 1);
}

var tokenizer = TokenizerLoader.Load(modelDir);
var config = ModelPresets.Get(ModelPreset.Small);
var vocab = config.VocabSize;
int[] eos = [.. config.EosTokenIds];
var build = Stopwatch.StartNew();
StructuredOutput.CreateConstraint(tokenizer, vocab, new StructuredOutputSpec(JsonGrammar.JsonObject), eos);
Console.WriteLine($"vocabulary trie built once per tokenizer: {build.Elapsed.TotalMilliseconds:F0} ms ({vocab} tokens)");

var grammars = new (string Name, JsonGrammar Grammar)[]
{
    ("weather (strict: enum, bounded strings, integer, array of objects, anyOf)", JsonGrammar.FromSchema(JsonDocument.Parse("""
        {"type":"object","additionalProperties":false,"required":["city","unit","days","rain","tags","note"],
         "properties":{"city":{"type":"string","maxLength":24},"unit":{"enum":["celsius","fahrenheit"]},"days":{"type":"integer"},
           "rain":{"type":["boolean","null"]},"tags":{"type":"array","items":{"type":"object","properties":{"k":{"type":"string","maxLength":16}},"required":["k"],"additionalProperties":false},"maxItems":8},
           "note":{"anyOf":[{"type":"string","maxLength":40},{"type":"number"}]}}}
        """).RootElement, strict: true, "weather")),
    ("free text (one unbounded string)", JsonGrammar.FromSchema(JsonDocument.Parse("""
        {"type":"object","properties":{"text":{"type":"string"}},"required":["text"],"additionalProperties":false}
        """).RootElement, strict: true, "text")),
    ("json_object (any keys and values)", JsonGrammar.JsonObject),
};

var options = new DotnetEngineOptions { Threads = threads, NumKvBlocks = 1024, MaxNumSeqs = 4 };
var results = new List<Dictionary<string, object>>();
await using (var engine = new DotnetEngine(modelDir, options))
{
    var prompt = Enumerable.Range(0, 32).Select(i => 1 + (i * 7919 % 50000)).ToArray();

    // Warm-up: JIT and the first forward passes.
    await RunAsync(engine, prompt, 16, null, 0);

    Console.WriteLine();
    Console.WriteLine("| grammar | decode step, unconstrained (ms) | decode step, constrained (ms) | engine ratio | mask per token: mean / p50 / p99 (µs) | mask ÷ decode step | tokens masked |");
    Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
    foreach (var (name, grammar) in grammars)
    {
        var plain = new List<double>();
        var constrained = new List<double>();
        var maskTimes = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            // Interleaved rounds, median kept: the box is shared.
            plain.Add((await RunAsync(engine, prompt, tokens, null, (ulong)round + 1)).StepMs);
            var spec = new StructuredOutputSpec(grammar);
            var run = await RunAsync(engine, prompt, tokens, StructuredOutput.CreateConstraint(tokenizer, vocab, spec, eos), (ulong)round + 1);
            constrained.Add(run.StepMs);
            var times = MaskTimes(StructuredOutput.CreateConstraint(tokenizer, vocab, spec, eos), run.Tokens, vocab);
            if (round > 0)
            {
                // The first round's masks include the JIT of the matcher's paths.
                maskTimes.AddRange(times);
            }
        }

        var step = Median(plain);
        var stepConstrained = Median(constrained);
        maskTimes.Sort();
        var mean = maskTimes.Average();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {step:F2} | {stepConstrained:F2} | {stepConstrained / step:F3} | {mean:F0} / {Percentile(maskTimes, 0.5):F0} / {Percentile(maskTimes, 0.99):F0} | {mean / 1000 / step:P1} | {maskTimes.Count} |"));
        results.Add(new Dictionary<string, object>
        {
            ["grammar"] = name,
            ["decode_step_ms"] = step,
            ["decode_step_constrained_ms"] = stepConstrained,
            ["mask_mean_us"] = mean,
            ["mask_p50_us"] = Percentile(maskTimes, 0.5),
            ["mask_p99_us"] = Percentile(maskTimes, 0.99),
            ["mask_over_step"] = mean / 1000 / step,
            ["tokens_masked"] = maskTimes.Count,
        });
    }
}

Directory.CreateDirectory(outDir);
var path = Path.Combine(outDir, "structured.json");
await File.WriteAllTextAsync(path, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine($"results: {path}");

// One request at batch 1: the mean time between tokens after the first (the decode step), and the tokens produced.
static async Task<(double StepMs, List<int> Tokens)> RunAsync(DotnetEngine engine, int[] prompt, int maxTokens, ITokenConstraint? constraint, ulong seed)
{
    var request = new EngineRequest
    {
        RequestId = Guid.NewGuid().ToString("N"),
        PromptTokens = prompt,
        MaxTokens = maxTokens,
        IgnoreEos = constraint is null,
        Sampling = new SamplingOptions { Temperature = 1f, Seed = seed },
        Constraint = constraint,
    };
    var produced = new List<int>();
    long first = 0, last = 0;
    await foreach (var output in engine.GenerateAsync(request, CancellationToken.None))
    {
        last = Stopwatch.GetTimestamp();
        if (produced.Count == 0)
        {
            first = last;
        }

        produced.Add(output.TokenId);
    }

    var steps = Math.Max(1, produced.Count - 1);
    return (Stopwatch.GetElapsedTime(first, last).TotalMilliseconds / steps, produced);
}

// Each step of the engine's constrained sampling on its own: the mask, its application to a row of logits, the accept.
static List<double> MaskTimes(TokenConstraint constraint, List<int> tokens, int vocab)
{
    var allowed = new ulong[(vocab + 63) >> 6];
    var logits = new float[vocab];
    var times = new List<double>(tokens.Count);
    foreach (var token in tokens)
    {
        if (constraint.IsComplete)
        {
            break;
        }

        var start = Stopwatch.GetTimestamp();
        constraint.FillAllowed(allowed);
        for (var word = 0; word < allowed.Length; word++)
        {
            var bits = allowed[word];
            if (bits == ulong.MaxValue)
            {
                continue;
            }

            for (var i = word << 6; i < Math.Min((word << 6) + 64, vocab); i++)
            {
                if ((bits & (1UL << i)) == 0)
                {
                    logits[i] = float.NegativeInfinity;
                }
            }
        }

        if (!constraint.TryAccept(token))
        {
            break;
        }

        times.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
    }

    return times;
}

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];

static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

double Arg(string name, double fallback) => ArgString(name, null) is { } s ? double.Parse(s, CultureInfo.InvariantCulture) : fallback;

string? ArgString(string name, string? fallback)
{
    var i = Array.IndexOf(args, "--" + name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
