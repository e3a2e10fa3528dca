using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.Contracts;
using Dynamo.DevCluster;
using Dynamo.DevCluster.Node;
using Dynamo.Operator.Connector;
using Dynamo.Planner;
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
// (O3) on a second, full one-machine cluster (node agent running pods as processes): --decisions times, the planner's
// Kubernetes connector raises the decode pool by one, and each stage until the new worker has served a request is
// timed; then the pool goes back down. --changes 0, --graphs 0 or --decisions 0 skip that part.
var decisions = Arg("--decisions", 10);
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
await InstallCrdsAsync(api);

var dynamo = Path.Combine(AppContext.BaseDirectory, "dynamo.dll");
var (op, opLines) = StartOperator(dynamo, kubeconfig);
try
{
    await UntilAsync(() => Task.FromResult(opLines.Any(l => l.Contains("is running", StringComparison.Ordinal))), TimeSpan.FromSeconds(30), "dynamo operator to start");

    // O1: one graph, --changes config changes, each waited for on every Deployment.
    var o1 = new List<double>();
    if (changes > 0)
    {
    await api.CreateAsync(KubeResource.Graphs, "default", Graph("o1", 0));
    await UntilAsync(async () => (await api.ListAsync(KubeResource.Deployments, "default", $"{GraphApi.GraphLabel}=o1")).Items.Count == 5, TimeSpan.FromSeconds(30), "o1's five Deployments");
    for (var i = 1; i <= changes; i++)
    {
        var hash = ExpectedHash(i);
        var clock = Stopwatch.StartNew();
        await api.PatchAsync(KubeResource.Graphs, "default", "o1", new JsonObject { ["spec"] = new JsonObject { ["config"] = Config(i) } }, PatchKind.Merge);
        await UntilAsync(async () => (await api.ListAsync(KubeResource.Deployments, "default", $"{GraphApi.GraphLabel}=o1")).Items
            .All(d => d["spec"]?["template"]?["metadata"]?["annotations"]?[GraphApi.ConfigHashAnnotation]?.GetValue<string>() == hash), TimeSpan.FromSeconds(30), $"o1 change {i}", pollMs: 2);
        o1.Add(clock.Elapsed.TotalMilliseconds);
    }
    }

    // O2: --graphs graphs, then churn.
    object? o2 = null;
    if (graphs > 0)
    {
    var o1Deployments = changes > 0 ? 5 : 0;
    var cpuBefore = CpuSeconds(op.Id);
    var converge = Stopwatch.StartNew();
    for (var g = 0; g < graphs; g++)
    {
        await api.CreateAsync(KubeResource.Graphs, "default", Graph($"g{g:D3}", 0));
    }

    await UntilAsync(async () => (await api.ListAsync(KubeResource.Deployments, "default")).Items.Count == 5 * graphs + o1Deployments, TimeSpan.FromMinutes(5), $"{5 * graphs} Deployments");
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
    };
    }

    if (!op.HasExited) op.Kill(entireProcessTree: true);
    var o3 = decisions > 0 ? await DecisionToServingAsync(dynamo, decisions) : null;

    var result = new
    {
        machine = new { Environment.ProcessorCount, load_average_start = loadAtStart, load_average_end = LoadAverage() },
        setup = new { changes, graphs, components_per_graph = 5, churn_s = churnSeconds, rate_per_s = rate, decisions },
        o1_spec_change_to_deployments_ms = Summary(o1),
        o2,
        o3_planner_decision_to_serving_ms = o3,
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
catch (BenchFailedException error)
{
    Console.Error.WriteLine(error.Message);
    return 1;
}
finally
{
    if (!op.HasExited) op.Kill(entireProcessTree: true);
    Directory.Delete(work, recursive: true);
}

static async Task InstallCrdsAsync(KubeApiClient api)
{
    foreach (var (_, crd) in CrdGenerator.All()) await api.CreateAsync(KubeResource.Crds, null, crd);
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
}

static (Process Process, ConcurrentQueue<string> Lines) StartOperator(string dynamo, string kubeconfig)
{
    var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    foreach (var a in new[] { dynamo, "operator", "--kubeconfig", kubeconfig, "--metrics-port", "-1", "--workers", "2" }) start.ArgumentList.Add(a);
    var op = Process.Start(start)!;
    var lines = new ConcurrentQueue<string>();
    op.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
    op.ErrorDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
    op.BeginOutputReadLine();
    op.BeginErrorReadLine();
    return (op, lines);
}

// O3: a full one-machine cluster (API server, controllers, node agent running pods as `dynamo` processes) and the
// operator; a disaggregated mocker graph with one prefill and one decode worker and a frontend, and a trickle of
// requests through the frontend's Service (one every 50 ms). Each round the planner's own connector
// (KubernetesScalingConnector.SetTargetsAsync, what the planner calls after a decision) raises decode by one; the
// times from that call until the adapter is patched, the new Pod exists, its process runs, it is Ready, the planner's
// connector reads it as ready, and its own /metrics count a served request are taken; then decode goes back to one
// and the round waits until the extra pod and its process are gone.
static async Task<object> DecisionToServingAsync(string dynamo, int rounds)
{
    var work = Directory.CreateTempSubdirectory("dynamo-bench-o3-").FullName;
    var kubeconfig = Path.Combine(work, "kubeconfig");
    await using var host = await DevClusterHost.StartAsync(
        new DevApiServerOptions { GracefulPodDeletion = true },
        new NodeAgentOptions { DataDirectory = Path.Combine(work, "data"), Dynamo = new DynamoCommand("dotnet", [dynamo]) },
        NullLoggerFactory.Instance);
    host.Server.WriteKubeconfig(kubeconfig);
    using var api = KubeApiClient.Create(kubeconfig);
    await InstallCrdsAsync(api);
    var (op, opLines) = StartOperator(dynamo, kubeconfig);
    using var stopLoad = new CancellationTokenSource();
    Task? load = null;
    try
    {
        await api.CreateAsync(KubeResource.Graphs, "default", new JsonObject
        {
            ["apiVersion"] = GraphApi.ApiVersion,
            ["kind"] = GraphApi.GraphKind,
            ["metadata"] = new JsonObject { ["name"] = "o3", ["namespace"] = "default" },
            ["spec"] = new JsonObject
            {
                ["model"] = new JsonObject { ["preset"] = "tiny" },
                ["config"] = new JsonObject { ["serve"] = new JsonObject { ["engine"] = "mocker" } },
                ["components"] = new JsonArray(
                    new JsonObject { ["name"] = "frontend", ["type"] = "frontend" },
                    new JsonObject { ["name"] = "prefill", ["type"] = "prefill", ["replicas"] = 1 },
                    new JsonObject { ["name"] = "decode", ["type"] = "decode", ["replicas"] = 1 }),
            },
        });
        await UntilAsync(async () => (await DecodePodsAsync(api)).Count == 1 && await ReadyPodsAsync(api) == 4, TimeSpan.FromMinutes(3), "graph o3's pods (NATS, frontend, prefill, decode) to be ready");
        var svc = (await api.GetAsync(KubeResource.Services, "default", "o3-frontend"))!;
        using var http = new HttpClient { BaseAddress = new Uri($"http://{svc["spec"]!["clusterIP"]}:{svc["spec"]!["ports"]![0]!["port"]}"), Timeout = TimeSpan.FromSeconds(30) };
        await UntilAsync(async () => await ChatAsync(http, "warm up"), TimeSpan.FromSeconds(60), "a first request through o3's frontend");
        var failed = 0;
        load = Task.Run(async () =>
        {
            var i = 0;
            while (!stopLoad.IsCancellationRequested)
            {
                // One at a time, so a slow start of the new worker never piles requests up.
                if (!await ChatAsync(http, $"trickle {i++} {Guid.NewGuid()}")) Interlocked.Increment(ref failed);
                try
                {
                    await Task.Delay(50, stopLoad.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });

        var connector = new KubernetesScalingConnector(api, "default", "o3", NullLogger.Instance);
        var stages = new Dictionary<string, List<double>>();
        void Add(string stage, TimeSpan at) => (stages.TryGetValue(stage, out var list) ? list : stages[stage] = []).Add(at.TotalMilliseconds);
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (var round = 0; round < rounds; round++)
        {
            var before = (await DecodePodsAsync(api)).Select(p => (string)p["metadata"]!["name"]!).ToHashSet();
            var clock = Stopwatch.StartNew();
            await connector.SetTargetsAsync(new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Prefill] = 1, [WorkerRole.Decode] = 2 }, "bench O3"), CancellationToken.None);
            Add("adapter_patched", clock.Elapsed);
            JsonObject? added = null;
            await UntilAsync(async () => (added = (await DecodePodsAsync(api)).FirstOrDefault(p => !before.Contains((string)p["metadata"]!["name"]!))) is not null, TimeSpan.FromSeconds(60), "the new decode Pod", pollMs: 5);
            Add("pod_created", clock.Elapsed);
            var name = (string)added!["metadata"]!["name"]!;
            await UntilAsync(async () => (added = await api.GetAsync(KubeResource.Pods, "default", name)) is { } p && p["status"]?["containerStatuses"]?[0]?["state"]?["running"] is not null, TimeSpan.FromSeconds(60), $"{name}'s process", pollMs: 5);
            Add("process_started", clock.Elapsed);
            await UntilAsync(async () => (added = await api.GetAsync(KubeResource.Pods, "default", name)) is { } p && IsReady(p), TimeSpan.FromSeconds(120), $"{name} ready", pollMs: 5);
            Add("pod_ready", clock.Elapsed);
            await UntilAsync(async () => (await connector.GetPoolsAsync(CancellationToken.None)).Single(p => p.Role == WorkerRole.Decode).Ready == 2, TimeSpan.FromSeconds(60), "the connector reading two ready decode workers", pollMs: 5);
            Add("planner_sees_ready", clock.Elapsed);
            var metrics = $"http://{added!["status"]!["podIP"]}:{added["spec"]!["containers"]![0]!["ports"]![0]!["containerPort"]}/metrics";
            await UntilAsync(async () => Served(await probe.GetStringAsync(metrics)) > 0, TimeSpan.FromSeconds(60), $"{name} serving a request", pollMs: 10);
            Add("first_request_served", clock.Elapsed);

            await connector.SetTargetsAsync(new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Prefill] = 1, [WorkerRole.Decode] = 1 }, "bench O3 back down"), CancellationToken.None);
            await UntilAsync(async () => (await DecodePodsAsync(api)).Count == 1 && (await connector.GetPoolsAsync(CancellationToken.None)).Single(p => p.Role == WorkerRole.Decode) is { Actual: 1, Ready: 1 }, TimeSpan.FromSeconds(90), "decode back to one pod");
            Console.Error.WriteLine($"O3 round {round + 1}/{rounds}: served after {stages["first_request_served"][^1]:F0} ms");
        }
        stopLoad.Cancel();
        await load;
        if (failed > 0) throw new BenchFailedException($"O3: {failed} requests of the trickle failed while decode scaled up and down");
        return stages.ToDictionary(s => s.Key, s => Summary(s.Value));
    }
    catch (TimeoutException error)
    {
        throw new BenchFailedException($"O3: {error.Message}; the operator's last lines:\n{string.Join('\n', opLines.TakeLast(40))}");
    }
    finally
    {
        stopLoad.Cancel();
        if (load is not null) await load.ContinueWith(_ => { }, TaskScheduler.Default);
        if (!op.HasExited) op.Kill(entireProcessTree: true);
        await host.DisposeAsync();
        Directory.Delete(work, recursive: true);
    }
}

static async Task<List<JsonObject>> DecodePodsAsync(KubeApiClient api) =>
    [.. (await api.ListAsync(KubeResource.Pods, "default", "app.kubernetes.io/component=decode")).Items.Where(p => p["metadata"]!["deletionTimestamp"] is null)];

static async Task<int> ReadyPodsAsync(KubeApiClient api) => (await api.ListAsync(KubeResource.Pods, "default")).Items.Count(IsReady);

static bool IsReady(JsonObject pod) =>
    pod["status"]?["conditions"] is JsonArray conditions && conditions.Any(c => (string?)c!["type"] == "Ready" && (string?)c["status"] == "True");

static async Task<bool> ChatAsync(HttpClient http, string prompt)
{
    try
    {
        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(
            new JsonObject { ["model"] = "tiny", ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }), ["max_tokens"] = 4 }.ToJsonString(),
            System.Text.Encoding.UTF8, "application/json"));
        return response.IsSuccessStatusCode;
    }
    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
    {
        return false;
    }
}

static double Served(string metrics) => metrics.Split('\n')
    .Where(l => l.StartsWith("dynamo_component_requests_total{", StringComparison.Ordinal) && l.Contains("status=\"200\"", StringComparison.Ordinal))
    .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

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

internal sealed class BenchFailedException(string message) : Exception(message);
