using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Dynamo.Llm.Tokenization;

// Tokenizer (bench/README.md, "Tokenizer"): the library tokenizer (Microsoft.ML.Tokenizers, what requests used to
// encode with) against TokenEncoder (what they encode with now), in one run, on the GPT-2 tokenizer `dynamo model
// init` writes. Normal text: tokens/s; whitespace-free letters: CPU seconds per size. Both must give the same ids.
// dotnet run -c Release --project bench/Dynamo.Bench.Tokenizer -- [--normal-mib 4] [--rounds 3]
//   [--letters-kib 16,64,256,1024] [--old-max-kib 1024] [--out DIR]
var normalMiB = Arg("normal-mib", 4.0);
var rounds = (int)Arg("rounds", 3);
var letterSizes = ArgList("letters-kib", [16, 64, 256, 1024]);
var oldMaxKiB = Arg("old-max-kib", 1024);
var outDir = ArgString("out", Path.Combine("bench", "results"));
Console.WriteLine($"# Tokenizer benchmark — {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}, load {Load()}");

var modelDir = Path.Combine(Path.GetTempPath(), "dynamo-bench-tokenizer-gpt2");
TokenizerFiles.WriteGpt2(modelDir);
var library = TokenizerLoader.Load(modelDir);
var encoder = TokenizerLoader.LoadEncoder(modelDir);
var results = new Dictionary<string, object>();

// 1. Normal text: English-like prose with code and numbers, built from a fixed vocabulary so every run is the same.
var normal = NormalText((int)(normalMiB * 1024 * 1024));
var expected = library.EncodeToIds(normal);
var actual = encoder.Encode(normal);
Check(expected, actual, "normal text");
double bestOld = 0, bestNew = 0;
for (var round = 0; round < rounds; round++)
{
    // Interleaved, best of the rounds: the box is shared.
    bestOld = Math.Max(bestOld, expected.Count / Cpu(() => library.EncodeToIds(normal)).Cpu);
    bestNew = Math.Max(bestNew, actual.Length / Cpu(() => encoder.Encode(normal)).Cpu);
}

Console.WriteLine($"normal text, {normal.Length:N0} chars, {actual.Length:N0} tokens: library {bestOld / 1e6:F2} M tok/s, TokenEncoder {bestNew / 1e6:F2} M tok/s of CPU, ratio {bestNew / bestOld:F2}");
results["normal_chars"] = normal.Length;
results["normal_tokens"] = actual.Length;
results["normal_library_tokens_per_cpu_s"] = bestOld;
results["normal_encoder_tokens_per_cpu_s"] = bestNew;

// 2. Whitespace-free letters: one pre-token, where the library is quadratic.
Console.WriteLine("| letters | tokens | library CPU s | TokenEncoder CPU s | ratio | TokenEncoder wall s |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
var rows = new List<Dictionary<string, object>>();
foreach (var kib in letterSizes)
{
    var text = Letters(kib * 1024);
    var (newCpu, newWall, ids) = Cpu(() => encoder.Encode(text));
    double? oldCpu = null;
    if (kib <= oldMaxKiB)
    {
        var (cpu, _, oldIds) = Cpu(() => library.EncodeToIds(text));
        Check(oldIds, ids, $"{kib} KiB of letters");
        oldCpu = cpu;
    }

    Console.WriteLine($"| {kib} KiB | {ids.Length:N0} | {(oldCpu is { } o ? o.ToString("F2", CultureInfo.InvariantCulture) : "skipped")} | {newCpu:F2} | {(oldCpu is { } r ? (r / newCpu).ToString("F0", CultureInfo.InvariantCulture) + "×" : "-")} | {newWall:F2} |");
    rows.Add(new() { ["kib"] = kib, ["tokens"] = ids.Length, ["library_cpu_s"] = oldCpu ?? double.NaN, ["encoder_cpu_s"] = newCpu, ["encoder_wall_s"] = newWall });
}

results["letters"] = rows;
Directory.CreateDirectory(outDir);
var file = Path.Combine(outDir, $"tokenizer-{DateTime.UtcNow:yyyyMMdd-HHmmss}.json");
await File.WriteAllTextAsync(file, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
Console.WriteLine($"results: {file}");
return 0;

// CPU seconds of this process (the work is single-threaded, so this is the encoding thread's), and wall seconds.
static (double Cpu, double Wall, T Result) Cpu<T>(Func<T> work)
{
    GC.Collect();
    var process = Process.GetCurrentProcess();
    var before = process.TotalProcessorTime;
    var watch = Stopwatch.StartNew();
    var result = work();
    watch.Stop();
    process.Refresh();
    return ((process.TotalProcessorTime - before).TotalSeconds, watch.Elapsed.TotalSeconds, result);
}

static void Check(IReadOnlyList<int> expected, IReadOnlyList<int> actual, string what)
{
    if (!expected.SequenceEqual(actual))
    {
        throw new InvalidOperationException($"{what}: TokenEncoder's ids differ from the library's.");
    }
}

static string NormalText(int chars)
{
    string[] words =
    [
        "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he",
        "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were", "their",
        "inference", "gateway", "worker", "tokenizer", "prefill", "decode", "cache", "latency", "throughput", "router",
        "Kubernetes", "deployment", "configuration", "2024", "3.14", "42", "x86_64", "(see", "below)", "e.g.,", "it's",
        "don't", "we'll", "naïve", "café", "—", "“quoted”", "for (int i = 0; i < n; i++)", "return x;", "{\"key\": 1}",
    ];
    var random = new Random(42);
    var builder = new StringBuilder(chars + 64);
    var sentence = 0;
    while (builder.Length < chars)
    {
        builder.Append(words[random.Next(words.Length)]);
        builder.Append(++sentence % 14 == 0 ? ".\n" : " ");
    }

    return builder.ToString(0, chars);
}

static string Letters(int length)
{
    var random = new Random(7);
    return string.Create(length, random, static (span, r) =>
    {
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = (char)('a' + r.Next(26));
        }
    });
}

static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";

double Arg(string name, double fallback)
{
    var i = Array.IndexOf(args, "--" + name);
    return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

string ArgString(string name, string fallback)
{
    var i = Array.IndexOf(args, "--" + name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

int[] ArgList(string name, int[] fallback)
{
    var i = Array.IndexOf(args, "--" + name);
    return i >= 0 && i + 1 < args.Length ? [.. args[i + 1].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))] : fallback;
}
