using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dynamo.DevCluster.Tests.Infrastructure;
using Dynamo.Operator.Tests.Infrastructure;
using Dynamo.Runtime.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Dynamo.Operator.Tests.Helm;

/// <summary>
/// The platform team's path with the real Helm 4: on <c>dynamo devcluster</c> (a process), <c>helm install</c> of the
/// platform chart runs the operator as a pod, <c>helm install</c> of the graph chart is reconciled into serving
/// processes, <c>helm test</c> passes, the dashboard's every metric is served, <c>helm upgrade</c> changes a pool and
/// the processes follow, <c>helm rollback</c> undoes it, and <c>helm uninstall</c> of both leaves no object and no
/// process behind (the CRDs stay, as Helm never deletes a chart's crds/).
/// </summary>
public sealed partial class HelmEndToEndTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task PlatformThenGraph_InstallServeTestUpgradeRollbackUninstall_LeavesNothingBehind()
    {
        var dir = Path.Combine(Path.GetTempPath(), "dynamo-helm-e2e", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var kubeconfig = Path.Combine(dir, "kubeconfig");
        var data = Path.Combine(dir, "data");
        var home = Path.Combine(dir, "helm-home");
        await using var cluster = DynamoProcess.Start(
            ["devcluster", "--port", "0", "--kubeconfig", kubeconfig, "--data-dir", data, "--workdir", RepoFiles.Root], new Dictionary<string, string>());
        try
        {
            await cluster.WaitForLineAsync("Kubeconfig written to", TimeSpan.FromSeconds(60));

            // 1. The platform: CRDs from the chart's crds/, the operator as a pod (leader election on), NATS, RBAC.
            await HelmOk("install", "dynamo", HelmCli.Chart("dynamo-platform"));
            await WaitAsync("the operator pod ready", async () => (await PodsAsync()).Any(p => p.Component == "operator" && p.Ready));
            await WaitAsync("the platform NATS ready", async () => (await PodsAsync()).Any(p => p.Component == "nats" && p.Ready));
            var test = await HelmOk("test", "dynamo");
            Assert.Contains("Succeeded", test.All, StringComparison.Ordinal);

            // 2. A graph, exactly as the README says: reconciled by the operator pod into serving processes.
            await HelmOk("install", "g", HelmCli.Chart("dynamo-graph"), "--set", "engine=mocker");
            await KubectlOk("wait", "dgd/g", "--for=condition=Ready", "--timeout=120s");
            var service = await GetJsonAsync("svc", "g-frontend");
            var nodePort = (int)service["spec"]!["ports"]![0]!["nodePort"]!;
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{nodePort}"), Timeout = TimeSpan.FromSeconds(60) };
            var completion = await ChatAsync(http, "Hello through the chart's NodePort.");
            Assert.Equal(6, (int)completion["usage"]!["completion_tokens"]!);

            // 3. helm upgrade: a second decode worker, and the planner (threshold) to light up the dashboard's planner rows.
            await HelmOk("upgrade", "g", HelmCli.Chart("dynamo-graph"), "--set", "engine=mocker", "--set", "decode.replicas=2",
                "--set", "planner.enabled=true", "--set", "planner.policy=threshold", "--set", "planner.profile=configs/profiles/h100-70b/profile.json");
            // The planner changes the config, so every Deployment rolls: wait for the rollout to end, not just for two ready.
            await WaitAsync("exactly two decode pods, both ready, and a ready planner", async () =>
            {
                var pods = await PodsAsync();
                var decode = pods.Where(p => p.Component == "decode").ToList();
                return decode.Count == 2 && decode.All(p => p.Ready) && pods.Any(p => p.Component == "planner" && p.Ready);
            });
            Assert.Equal(2, (await PodsAsync()).Count(p => p.Component == "decode" && PodProcess(p) > 0));
            for (var i = 0; i < 6; i++) await ChatAsync(http, $"Traffic for the dashboard {i}, {Guid.NewGuid()}");

            // 4. The dashboard is Grafana JSON, and every metric it queries is served by the running cluster.
            await AssertDashboardMetricsServedAsync(await PodsAsync());

            // 5. helm rollback to the first revision: one decode worker, no planner.
            await HelmOk("rollback", "g", "1");
            await WaitAsync("one decode pod and no planner after the rollback", async () =>
            {
                var pods = await PodsAsync();
                return pods.Count(p => p.Component == "decode") == 1 && !pods.Any(p => p.Component == "planner");
            });
            await ChatAsync(http, "Still serving after the rollback?");

            // 6. helm uninstall of both: no object of either release and no process left.
            var pids = (await PodsAsync()).Select(PodProcess).Where(pid => pid > 0).ToList();
            Assert.True(pids.Count >= 5, $"expected the pods' processes, found {pids.Count}");
            await HelmOk("uninstall", "g", "--wait", "--timeout", "120s");
            await WaitAsync("the graph's pods gone", async () => !(await PodsAsync()).Any(p => p.Component is "frontend" or "prefill" or "decode" or "planner" or "nats-graph"));
            await HelmOk("uninstall", "dynamo", "--wait", "--timeout", "120s");
            await WaitAsync("no pods left", async () => (await PodsAsync()).Count == 0);
            foreach (var kind in new[] { "deployments", "statefulsets", "services", "configmaps", "secrets", "serviceaccounts", "roles", "rolebindings", "clusterroles", "clusterrolebindings", "dgd", "dgdsa" })
            {
                var left = (await KubectlOk("get", kind, "-A", "-o", "name")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                    // The API server's own: the kubernetes Service.
                    .Where(n => n != "service/kubernetes").ToList();
                Assert.True(left.Count == 0, $"{kind} left after helm uninstall: {string.Join(", ", left)}");
            }
            await WaitAsync("every pod process gone", () => Task.FromResult(pids.All(pid => !IsAlive(pid))));
        }
        catch
        {
            output.WriteLine($"devcluster output:\n{cluster.Output}");
            foreach (var log in Directory.Exists(data) ? Directory.GetFiles(data, "*.log", SearchOption.AllDirectories) : [])
            {
                output.WriteLine($"--- {log} (last 30 lines)\n{string.Join('\n', File.ReadAllLines(log).TakeLast(30))}");
            }
            throw;
        }
        finally
        {
            cluster.Terminate();
            await cluster.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }
        Directory.Delete(dir, recursive: true);

        async Task<HelmCli.Result> HelmOk(params string[] args)
        {
            var result = await HelmCli.RunAsync(HelmCli.V4, kubeconfig, home, args);
            Assert.True(result.ExitCode == 0, $"helm {string.Join(' ', args)} exited {result.ExitCode}: {result.All}");
            return result;
        }

        async Task<Kubectl.Result> KubectlOk(params string[] args)
        {
            var result = await Kubectl.RunAsync(kubeconfig, dir, args);
            Assert.True(result.ExitCode == 0, $"kubectl {string.Join(' ', args)} exited {result.ExitCode}: {result.All}");
            return result;
        }

        async Task<JsonObject> GetJsonAsync(string kind, string name) => (JsonObject)JsonNode.Parse((await KubectlOk("get", kind, name, "-o", "json")).Stdout)!;

        async Task<List<Pod>> PodsAsync()
        {
            var list = (JsonObject)JsonNode.Parse((await KubectlOk("get", "pods", "-A", "-o", "json")).Stdout)!;
            return [.. list["items"]!.AsArray().OfType<JsonObject>()
                // Pods that finished or are being deleted (a rollout's old ones) are not the cluster's current state.
                .Where(p => p["status"]?["phase"]?.GetValue<string>() is not ("Succeeded" or "Failed") && p["metadata"]!["deletionTimestamp"] is null)
                .Select(p => new Pod(
                    (string)p["metadata"]!["name"]!,
                    Component((JsonObject)p),
                    (string?)p["status"]?["podIP"] ?? "",
                    p["status"]?["conditions"]?.AsArray().Any(c => (string?)c!["type"] == "Ready" && (string?)c["status"] == "True") == true,
                    p["spec"]!["containers"]![0]!["ports"]?.AsArray().Select(x => (int)x!["containerPort"]!).ToList() ?? []))];
        }

        async Task WaitAsync(string what, Func<Task<bool>> condition)
        {
            var deadline = DateTime.UtcNow + Timeout;
            while (!await condition())
            {
                if (DateTime.UtcNow > deadline)
                {
                    var state = await Kubectl.RunAsync(kubeconfig, dir, "get", "dgd,dgdsa,pods", "-A", "-o", "wide");
                    throw new TimeoutException($"timed out after {Timeout.TotalSeconds} s waiting for {what}; cluster now:\n{state.All}");
                }
                await Task.Delay(500);
            }
        }
    }

    private sealed record Pod(string Name, string Component, string Ip, bool Ready, List<int> Ports);

    /// <summary>operator and nats for the platform chart's pods (by name), else the operator's component label.</summary>
    private static string Component(JsonObject pod)
    {
        var labels = pod["metadata"]!["labels"] as JsonObject;
        var component = (string?)labels?["app.kubernetes.io/component"] ?? "";
        var graphPod = labels?["dynamo.dotnet.dev/graph"] is not null;
        return graphPod && component == "nats" ? "nats-graph" : component;
    }

    private async Task AssertDashboardMetricsServedAsync(List<Pod> pods)
    {
        var dashboard = JsonNode.Parse(await File.ReadAllTextAsync(RepoFiles.Path("charts", "dynamo-platform", "dashboards", "dynamo.json")))!.AsObject();
        Assert.False(string.IsNullOrEmpty((string?)dashboard["title"]));
        Assert.True(dashboard["schemaVersion"]!.GetValue<int>() >= 30, "a Grafana dashboard has a schemaVersion");
        var panels = dashboard["panels"]!.AsArray().OfType<JsonObject>().Where(p => (string?)p["type"] != "row").ToList();
        Assert.NotEmpty(panels);
        Assert.Equal(panels.Count, panels.Select(p => p["id"]!.GetValue<int>()).Distinct().Count());
        var queried = new HashSet<string>(StringComparer.Ordinal);
        foreach (var panel in panels)
        {
            Assert.NotNull(panel["gridPos"]);
            var targets = panel["targets"]!.AsArray().OfType<JsonObject>().ToList();
            Assert.True(targets.Count > 0, $"panel {(string?)panel["title"]} queries nothing");
            foreach (var t in targets)
            {
                foreach (Match m in MetricName().Matches((string)t["expr"]!)) queried.Add(Regex.Replace(m.Value, "_(bucket|sum|count)$", ""));
            }
        }

        // Every process's /metrics: the operator (port 8080), frontends and workers (8000, 9000), the planner (9100).
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var served = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pod in pods.Where(p => p.Component is not ("nats" or "nats-graph")))
        {
            foreach (var port in pod.Ports)
            {
                var text = await client.GetStringAsync($"http://{pod.Ip}:{port}/metrics");
                foreach (var line in text.Split('\n'))
                {
                    if (line.StartsWith("# TYPE ", StringComparison.Ordinal)) served.Add(line.Split(' ')[2]);
                }
            }
        }
        var missing = queried.Where(q => !served.Contains(q)).Order(StringComparer.Ordinal).ToList();
        output.WriteLine($"dashboard queries {queried.Count} metrics; served by the cluster: {served.Count(s => s.StartsWith("dynamo_", StringComparison.Ordinal))}");
        Assert.True(missing.Count == 0, $"the dashboard queries metrics no process serves: {string.Join(", ", missing)}");
    }

    private static async Task<JsonObject> ChatAsync(HttpClient http, string prompt)
    {
        using var response = await http.PostAsJsonAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = "tiny",
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
            ["max_tokens"] = 6,
            ["ignore_eos"] = true,
        });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST /v1/chat/completions: {(int)response.StatusCode} {body}");
        return (JsonObject)JsonNode.Parse(body)!;
    }

    /// <summary>The process a pod runs: the one whose arguments name the pod's own IP; 0 when none.</summary>
    private static int PodProcess(Pod pod)
    {
        if (string.IsNullOrEmpty(pod.Ip)) return 0;
        foreach (var entry in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(entry, "cmdline")).Split('\0').Contains(pod.Ip)) return pid;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return 0;
    }

    private static bool IsAlive(int pid) => File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Length > 0;

    [GeneratedRegex(@"\bdynamo_[a-z0-9_]+")]
    private static partial Regex MetricName();
}
