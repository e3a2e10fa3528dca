using System.Runtime.InteropServices;
using System.Text.Json;
using BenchmarkDotNet.Running;
using Dynamo.Bench.Router;
using Dynamo.Router;

// Router benchmarks (bench/README.md, "Router (P3, P9)").
//   p3       decision latency p50/p99 (64 workers, ~1M indexed blocks, 4K and 32K prompts), events/s on one thread, bytes per pair
//   p9       index rebuild from dumps holding 2M blocks
//   quality  kv vs round-robin on 8 mocker workers with a shared-prefix workload
//   bdn      the BenchmarkDotNet classes (pass BenchmarkDotNet arguments after it, e.g. --filter '*')
// dotnet run -c Release --project bench/Dynamo.Bench.Router -- p3|p9|quality|bdn [--decisions N] [--blocks N] [--workers N]
//   [--short-per-worker N] [--ingestion 0|1] (p3: index shape; 1,000 workers with 5 each keep about 1M blocks)
//   [--speedup X] [--requests N] [--rate R] [--routers kv,round-robin] [--out DIR]
if (args.Length > 0 && args[0] == "bdn")
{
    BenchmarkSwitcher.FromAssembly(typeof(IndexFixture).Assembly).Run(args[1..]);
    return 0;
}

var verb = args.Length > 0 ? args[0] : "p3";
var options = Options.Parse(args.Skip(1).ToArray());
Console.WriteLine($"# Router benchmark {verb} — {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}, .NET {Environment.Version}");
Dictionary<string, object> results = verb switch
{
    "p3" => P3.Run(options.Int("decisions", 20_000), options.Int("workers", 64), options.Int("short-per-worker", 72), options.Int("ingestion", 1) != 0, options.Has("busy-cost") ? options.Double("busy-cost", 0) : null),
    "p9" => P9.Run(options.Int("blocks", 2_000_000), options.Int("workers", 64)),
    "quality" => await Quality.RunAsync(
        new Quality.Options
        {
            Workers = options.Int("workers", 8),
            Speedup = options.Double("speedup", 5),
            Requests = options.Int("requests", 2000),
            Rate = options.Double("rate", 60),
            Documents = options.Int("documents", 32),
            KvBlocks = options.Int("kv-blocks", 2048),
            OutputTokens = options.Int("osl", 32),
            PrefillLoadScale = options.Double("prefill-load-scale", 1.0),
            Temperature = options.Double("temperature", 0),
            Cost = CostOf(options.String("kv-cost", "predicted"), options.Double("prefill-load-scale", 1.0)),
        },
        options.String("routers", "kv,round-robin").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)),
    _ => throw new ArgumentException($"unknown verb '{verb}': expected p3, p9, quality or bdn"),
};

static KvCostModel CostOf(string value, double prefillLoadScale)
{
    if (!RouterOptions.TryParseCost(value, out var cost))
    {
        throw new ArgumentException($"--kv-cost must be predicted or blocks (got '{value}')");
    }

    if (cost == KvCostModel.Predicted && prefillLoadScale != 1.0)
    {
        throw new ArgumentException($"--prefill-load-scale applies to the block cost only (got {prefillLoadScale}): add --kv-cost blocks");
    }

    return cost;
}

var outDir = options.String("out", Path.Combine("bench", "results"));
Directory.CreateDirectory(outDir);
var path = Path.Combine(outDir, $"router-{verb}.json");
File.WriteAllText(path, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine($"results: {path}");
return 0;

internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static Options Parse(string[] args)
    {
        var options = new Options();
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"expected --name value, got '{args[i]}'");
            }

            options._values[args[i][2..]] = args[i + 1];
        }

        return options;
    }

    public int Int(string name, int fallback) => _values.TryGetValue(name, out var v) ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) => _values.TryGetValue(name, out var v) ? double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    public bool Has(string name) => _values.ContainsKey(name);

    public string String(string name, string fallback) => _values.TryGetValue(name, out var v) ? v : fallback;
}
