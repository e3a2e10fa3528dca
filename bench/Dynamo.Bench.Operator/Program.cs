using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.DevCluster;
using Dynamo.Operator.Api;
using Dynamo.Operator.Client;
using Dynamo.Operator.Graph;
using Dynamo.Operator.Schema;
using Microsoft.Extensions.Logging.Abstractions;

// The operator's figures on the one-machine API server (hosted in this process), with `dynamo operator` as its own
// process so its CPU and memory are its own. (O1) a spec change to updated Deployments: the graph's config is changed
// --changes times, one at a time, and the time until all five Deployments carry the new pod-template hash is taken.
// (O2) --graphs graphs of five components each: time until all their Deployments exist, then --churn-s seconds of
// config changes to random graphs at --rate per second; the operator's CPU time and resident memory over the churn.
var changes = Arg("--changes", 100);
var graphs = Arg("--graphs", 100);
var churnSeconds = Arg("--churn-s", 30);
var rate = Arg("--rate", 10);
var outDir = ArgString("--out", Path.Combine("bench", "results"));
var loadAtStart = LoadAverage();

await using var server = await DevApiServer.StartAsync(new DevApiServerOptions(), NullLoggerFactory.Instance);
var work = Directory.CreateTempSubdirectory("dynamo-bench-operator-").FullName;
var kubeconfig = Path.Combine(work, "kubeconfig");
server.WriteKubeconfig(kubeconfig);
using var api = KubeApiClient.Create(kubeconfig);
foreach (var (_, crd) in CrdGenerator.All())
{
    await api.CreateAsync(KubeResource.Crds, null, crd);
}

await UntilAsync(async () =>
{
    try
    {
        await api.ListAsync(KubeResource.Graphs, "default");
        return true;
    }
    catch (KubeApiException error) when (error.IsNotFound)
    {
        return false;
    }
}, TimeSpan.FromSeconds(10), "the CRDs to be served");

var dynamo = Path.Combine(AppContext.BaseDirectory, "dynamo.dll");
var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
foreach (var a in new[] { dynamo, "operator", "--kubeconfig", kubeconfig, "--metrics-port", "-1", "--workers", "2" }) start.ArgumentList.Add(a);
using var op = Process.Start(start)!;
var opLines = new ConcurrentQueue<string>();
op.OutputDataReceived += (_, e) => { if (e.Data is not null) opLines.Enqueue(e.Data); };
op.ErrorDataReceived += (_, e) => { if (e.Data is not null) opLines.Enqueue(e.Data); };
op.BeginOutputReadLine();
op.BeginErrorReadLine();
try
{
    await UntilAsync(() => Task.FromResult(opLines.Any(l => l.Contains("is running", StringComparison.Ordinal))), TimeSpan.FromSeconds(30), "dynamo operator to start");

    // O1: one graph, --changes config changes, each waited for on every Deployment.
    await api.CreateAsync(KubeResource.Graphs, "default", Graph("o1", 0));
    await UntilAsync(async () => (await api.ListAsync(KubeResource.Deployments, "default", $"{GraphApi.GraphLabel}=o1")).Items.Count == 5, TimeSpan.FromSeconds(30), "o1's five Deployments");
    var o1 = new List<double>();
    for (var i = 1; i <= changes; i++)
    {
        var hash = ExpectedHash(i);
        var clock = Stopwatch.StartNew();
        await api.PatchAsync(KubeResource.Graphs, "default", "o1", new JsonObject { ["spec"] = new JsonObject { ["config"] = Config(i) } }, PatchKind.Merge);
        await UntilAsync(async () => (await api.ListAsync(KubeResource.Deployments, "default", $"{GraphApi.GraphLabel}=o1")).Items
            .All(d => d["spec"]?["template"]?["metadata"]?["annotations"]?[GraphApi.ConfigHashAnnotation]?.GetValue<string>() == hash), TimeSpan.FromSeconds(30), $"o1 change {i}", pollMs: 2);
        o1.Add(clock.Elapsed.TotalMilliseconds);
    }

    // O2: --graphs graphs, then churn.
    var cpuBefore = CpuSeconds(op.Id);
    var converge = Stopwatch.StartNew();
    for (var g = 0; g < graphs; g++)
    {
        await api.CreateAsync(KubeResource.Graphs, "default", Graph($"g{g:D3}", 0));
    }

    await UntilAsync(async () => (await api.ListAsync(KubeResource.Deployments, "default")).Items.Count == 5 * (graphs + 1), TimeSpan.FromMinutes(5), $"{5 * graphs} Deployments");
    var convergeSeconds = converge.Elapsed.TotalSeconds;
    var cpuCreate = CpuSeconds(op.Id) - cpuBefore;
    var rssIdle = RssMb(op.Id);

    var random = new Random(1);
    var last = new Dictionary<string, int>();
    var rss = new List<double>();
    var cpuChurnStart = CpuSeconds(op.Id);
    var churn = Stopwatch.StartNew();
    var sent = 0;
    while (churn.Elapsed.TotalSeconds < churnSeconds)
    {
        var name = $"g{random.Next(graphs):D3}";
        var round = ++sent;
        last[name] = round;
        await api.PatchAsync(KubeResource.Graphs, "default", name, new JsonObject { ["spec"] = new JsonObject { ["config"] = Config(round) } }, PatchKind.Merge);
        if (sent % rate == 0) rss.Add(RssMb(op.Id));
        var due = TimeSpan.FromSeconds(sent / (double)rate) - churn.Elapsed;
        if (due > TimeSpan.Zero) await Task.Delay(due);
    }

    var churnWall = churn.Elapsed.TotalSeconds;
    await UntilAsync(async () =>
    {
        var deployments = (await api.ListAsync(KubeResource.Deployments, "default")).Items;
        return last.All(p => deployments.Where(d => d["metadata"]!["labels"]![GraphApi.GraphLabel]!.GetValue<string>() == p.Key)
            .All(d => d["spec"]!["template"]!["metadata"]!["annotations"]![GraphApi.ConfigHashAnnotation]!.GetValue<string>() == ExpectedHash(p.Value)));
    }, TimeSpan.FromMinutes(5), "the churned graphs to converge");
    var settleSeconds = churn.Elapsed.TotalSeconds - churnWall;
    var cpuChurn = CpuSeconds(op.Id) - cpuChurnStart;

    var result = new
    {
        machine = new { Environment.ProcessorCount, load_average_start = loadAtStart, load_average_end = LoadAverage() },
        setup = new { changes, graphs, components_per_graph = 5, churn_s = churnSeconds, rate_per_s = rate },
        o1_spec_change_to_deployments_ms = Summary(o1),
        o2 = new
        {
            converge_s = convergeSeconds,
            cpu_s_creating = cpuCreate,
            rss_mb_after_create = rssIdle,
            churn_changes = sent,
            churn_wall_s = churnWall,
            settle_after_churn_s = settleSeconds,
            cpu_s_during_churn_and_settle = cpuChurn,
            cpu_cores_during_churn = cpuChurn / (churnWall + settleSeconds),
            rss_mb_during_churn = Summary(rss),
        },
    };
    Directory.CreateDirectory(outDir);
    var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
    await File.WriteAllTextAsync(Path.Combine(outDir, "operator.json"), json);
    Console.WriteLine(json);
    return 0;
}
catch (TimeoutException error)
{
    Console.Error.WriteLine($"{error.Message}; the operator's last lines:\n{string.Join('\n', opLines.TakeLast(40))}");
    return 1;
}
finally
{
    if (!op.HasExited) op.Kill(entireProcessTree: true);
    Directory.Delete(work, recursive: true);
}

static JsonObject Config(int round) => new() { ["serve"] = new JsonObject { ["engine"] = "mocker" }, ["bench"] = new JsonObject { ["round"] = round } };

static string ExpectedHash(int round) => ConfigFlattener.Hash(ConfigFlattener.Flatten(Config(round)));

static JsonObject Graph(string name, int round) => new()
{
    ["apiVersion"] = GraphApi.ApiVersion,
    ["kind"] = GraphApi.GraphKind,
    ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "default" },
    ["spec"] = new JsonObject
    {
        ["model"] = new JsonObject { ["preset"] = "tiny" },
        ["config"] = Config(round),
        ["components"] = new JsonArray(
            new JsonObject { ["name"] = "frontend", ["type"] = "frontend" },
            new JsonObject { ["name"] = "frontend2", ["type"] = "frontend" },
            new JsonObject { ["name"] = "prefill", ["type"] = "prefill", ["replicas"] = 2 },
            new JsonObject { ["name"] = "decode", ["type"] = "decode", ["replicas"] = 2 },
            new JsonObject { ["name"] = "planner", ["type"] = "planner" }),
    },
};

static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, int pollMs = 20)
{
    var clock = Stopwatch.StartNew();
    while (!await condition())
    {
        if (clock.Elapsed > timeout) throw new TimeoutException($"timed out after {timeout.TotalSeconds:F0} s waiting for {what}");
        await Task.Delay(pollMs);
    }
}

static double CpuSeconds(int pid)
{
    // utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks (100 a second on Linux).
    var stat = File.ReadAllText($"/proc/{pid}/stat");
    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
}

static double RssMb(int pid)
{
    var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
}

static string? LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null;

static object? Summary(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length == 0 ? null : new { p50 = Percentile(sorted, 0.50), p99 = Percentile(sorted, 0.99), max = sorted[^1], mean = sorted.Average(), count = sorted.Length };
}

static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

static int Arg(string name, int fallback) => ArgString(name, "") is { Length: > 0 } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

static string ArgString(string name, string fallback)
{
    var args = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
