using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Tests.Infrastructure;
using Dynamo.Operator.Tests.Infrastructure;
using Dynamo.Runtime.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Dynamo.Operator.Tests;

/// <summary>
/// The user path of the operator, all of it real processes: <c>dynamo devcluster</c>, <c>dynamo operator</c>, the
/// real kubectl v1.35, and the example graph <c>operators/examples/disagg-planner.yaml</c> as checked in.
/// </summary>
public sealed class EndToEndTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task DisaggregatedGraphWithAPlanner_AppliedWithKubectl_ServesScalesHealsAndIsDeletedWithEveryProcess()
    {
        var dir = Path.Combine(Path.GetTempPath(), "dynamo-operator-e2e", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var kubeconfig = Path.Combine(dir, "kubeconfig");
        var data = Path.Combine(dir, "data");
        // --workdir: containers start at the repository root, so the example's relative planner profile resolves.
        await using var cluster = DynamoProcess.Start(
            ["devcluster", "--port", "0", "--kubeconfig", kubeconfig, "--data-dir", data, "--workdir", RepoFiles.Root], new Dictionary<string, string>());
        DynamoProcess? operatorProcess = null;
        try
        {
            await cluster.WaitForLineAsync("Kubeconfig written to", TimeSpan.FromSeconds(60));
            await Kubectl("apply", "-f", RepoFiles.Path("operators", "crds"));
            await Kubectl("apply", "-f", RepoFiles.Path("operators", "examples", "disagg-planner.yaml"));
            operatorProcess = DynamoProcess.Start(["operator", "--kubeconfig", kubeconfig], new Dictionary<string, string>());

            // 1. Everything the graph declares runs as a local process, and the graph reports Ready.
            await Kubectl("wait", "dgd/disagg", "--for=condition=Ready", "--timeout=120s");
            var pods = await PodsAsync();
            Assert.Equal(["decode", "frontend", "nats", "planner", "prefill"], pods.Select(p => p.Component).Order(StringComparer.Ordinal));
            var processes = pods.ToDictionary(p => p.Name, p => PodProcess(p));
            Assert.Contains("nats-server", processes.Single(p => p.Key.StartsWith("disagg-nats", StringComparison.Ordinal)).Value.CommandLine, StringComparison.Ordinal);
            Assert.Contains("--role prefill", processes.Single(p => p.Key.StartsWith("disagg-prefill", StringComparison.Ordinal)).Value.CommandLine, StringComparison.Ordinal);
            Assert.Contains("--role decode", processes.Single(p => p.Key.StartsWith("disagg-decode", StringComparison.Ordinal)).Value.CommandLine, StringComparison.Ordinal);
            Assert.Contains("--connector kubernetes", processes.Single(p => p.Key.StartsWith("disagg-planner", StringComparison.Ordinal)).Value.CommandLine, StringComparison.Ordinal);

            // 2. An OpenAI request through the frontend's Service address (its cluster IP, proxied by the node agent).
            var service = await GetJsonAsync("svc", "disagg-frontend");
            var frontend = new Uri($"http://{(string?)service["spec"]!["clusterIP"]}:{(int)service["spec"]!["ports"]![0]!["port"]!}");
            using var http = new HttpClient { BaseAddress = frontend, Timeout = TimeSpan.FromSeconds(60) };
            var completion = await ChatAsync(http, "Say hello through the Service.", 8);
            Assert.Equal("length", (string?)completion["choices"]![0]!["finish_reason"]);
            Assert.Equal(8, (int)completion["usage"]!["completion_tokens"]!);

            // 3. kubectl scale on the decode adapter adds a decode worker, and that worker serves.
            var firstDecode = pods.Single(p => p.Component == "decode").Name;
            await Kubectl("scale", "dgdsa/disagg-decode", "--replicas=2");
            await WaitAsync("two ready decode pods", async () => (await PodsAsync()).Count(p => p.Component == "decode" && p.Ready) == 2);
            var added = (await PodsAsync()).Single(p => p.Component == "decode" && p.Name != firstDecode);
            for (var i = 0; i < 40 && await ServedAsync(added) == 0; i++)
            {
                await ChatAsync(http, $"Request {i} for whichever decode worker the router picks, {Guid.NewGuid()}", 4);
            }
            Assert.True(await ServedAsync(added) > 0, $"the added decode worker {added.Name} served none of 40 requests");
            var adapter = await GetJsonAsync("dgdsa", "disagg-decode");
            Assert.Equal(2, (int)adapter["spec"]!["replicas"]!);

            // 4. A burst of long requests queues behind the example's 4 batch slots: the planner raises a pool.
            var before = await DesiredAsync();
            using var load = new CancellationTokenSource();
            using var loadHttp = new HttpClient { BaseAddress = frontend, Timeout = System.Threading.Timeout.InfiniteTimeSpan };
            var burst = Enumerable.Range(0, 48).Select(i => Task.Run(async () =>
            {
                try
                {
                    using var response = await loadHttp.PostAsJsonAsync("/v1/completions", new JsonObject
                    {
                        ["model"] = "tiny", ["prompt"] = $"burst {i}: tell a long story", ["max_tokens"] = 400, ["ignore_eos"] = true,
                    }, load.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or HttpRequestException)
                {
                }
            })).ToList();
            (int Prefill, int Decode) raised = before;
            await WaitAsync("the planner raising the prefill or the decode pool", async () =>
            {
                raised = await DesiredAsync();
                return raised.Prefill > before.Prefill || raised.Decode > before.Decode;
            });
            var plannerLog = await File.ReadAllTextAsync(LogPath(pods.Single(p => p.Component == "planner")));
            Assert.Contains("acted True", plannerLog, StringComparison.Ordinal);
            await WaitAsync($"the raised pools ready (prefill {raised.Prefill}, decode {raised.Decode})", async () =>
            {
                var now = await PodsAsync();
                return now.Count(p => p.Component == "prefill" && p.Ready) >= raised.Prefill && now.Count(p => p.Component == "decode" && p.Ready) >= raised.Decode;
            });
            load.Cancel();
            await Task.WhenAll(burst);

            // 5. A killed pod process is replaced: the container restarts and its pod is ready again.
            // A ready one: the planner may still be adding pods whose process has not started yet.
            var victim = (await PodsAsync()).First(p => p.Component == "prefill" && p.Ready);
            var victimProcess = PodProcess(victim);
            System.Diagnostics.Process.GetProcessById(victimProcess.Pid).Kill();
            await WaitAsync($"pod {victim.Name} restarted and ready", async () =>
                (await PodsAsync()).SingleOrDefault(p => p.Name == victim.Name) is { Ready: true, Restarts: > 0 });
            Assert.NotEqual(victimProcess.Pid, PodProcess(victim).Pid);
            completion = await ChatAsync(http, "Still serving after the kill?", 4);
            Assert.Equal(4, (int)completion["usage"]!["completion_tokens"]!);

            // 6. kubectl delete removes every object the operator made and every process the pods ran.
            // Every process the pods run now (a pod between restarts has none).
            var everyPid = (await PodsAsync()).Select(TryPodProcess).OfType<int>().ToList();
            Assert.True(everyPid.Count >= 5, $"expected the pods' processes, found {everyPid.Count}");
            await Kubectl("delete", "dgd/disagg", "--timeout=120s");
            await WaitAsync("no pods left", async () => (await PodsAsync()).Count == 0);
            foreach (var kind in new[] { "deployments", "statefulsets", "services", "configmaps", "secrets", "dgdsa" })
            {
                var left = await Kubectl("get", kind, "-l", "dynamo.dotnet.dev/graph=disagg", "-o", "name");
                Assert.True(left.Stdout.Trim().Length == 0, $"{kind} left after the graph was deleted: {left.Stdout}");
            }
            await WaitAsync("every pod process gone", () => Task.FromResult(everyPid.All(pid => !IsAlive(pid))));
        }
        catch
        {
            output.WriteLine($"devcluster output:\n{cluster.Output}\noperator output:\n{operatorProcess?.Output}");
            foreach (var log in Directory.Exists(data) ? Directory.GetFiles(data, "*.log", SearchOption.AllDirectories) : [])
            {
                var lines = File.ReadAllLines(log);
                output.WriteLine($"--- {log} (last 30 lines)\n{string.Join('\n', lines.TakeLast(30))}");
            }
            throw;
        }
        finally
        {
            if (operatorProcess is not null)
            {
                operatorProcess.Terminate();
                await operatorProcess.WaitForExitAsync(TimeSpan.FromSeconds(20));
                await operatorProcess.DisposeAsync();
            }
            cluster.Terminate();
            await cluster.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }
        Directory.Delete(dir, recursive: true);

        async Task<Dynamo.DevCluster.Tests.Infrastructure.Kubectl.Result> Kubectl(params string[] args)
        {
            var result = await Dynamo.DevCluster.Tests.Infrastructure.Kubectl.RunAsync(kubeconfig, dir, args);
            Assert.True(result.ExitCode == 0, $"kubectl {string.Join(' ', args)} exited {result.ExitCode}: {result.All}");
            return result;
        }

        async Task<JsonObject> GetJsonAsync(string kind, string name) =>
            (JsonObject)JsonNode.Parse((await Kubectl("get", kind, name, "-o", "json")).Stdout)!;

        async Task<List<Pod>> PodsAsync()
        {
            var list = (JsonObject)JsonNode.Parse((await Kubectl("get", "pods", "-o", "json")).Stdout)!;
            // Pods being deleted (a scale-down's, a rollout's) are not the cluster's current state.
            return [.. list["items"]!.AsArray().OfType<JsonObject>().Where(p => p["metadata"]!["deletionTimestamp"] is null).Select(p => new Pod(
                (string)p["metadata"]!["name"]!,
                (string)p["metadata"]!["uid"]!,
                (string?)p["metadata"]!["labels"]?["app.kubernetes.io/component"] ?? "",
                (string?)p["status"]?["podIP"] ?? "",
                p["status"]?["conditions"]?.AsArray().Any(c => (string?)c!["type"] == "Ready" && (string?)c["status"] == "True") == true,
                p["status"]?["containerStatuses"]?[0]?["restartCount"]?.GetValue<int>() ?? 0))];
        }

        async Task<(int Prefill, int Decode)> DesiredAsync() =>
            ((int)(await GetJsonAsync("dgdsa", "disagg-prefill"))["spec"]!["replicas"]!, (int)(await GetJsonAsync("dgdsa", "disagg-decode"))["spec"]!["replicas"]!);

        string LogPath(Pod pod) => Path.Combine(data, "pods", $"default_{pod.Name}_{pod.Uid}", "main.log");

        async Task WaitAsync(string what, Func<Task<bool>> condition)
        {
            var deadline = DateTime.UtcNow + Timeout;
            while (!await condition())
            {
                if (DateTime.UtcNow > deadline)
                {
                    var state = await Dynamo.DevCluster.Tests.Infrastructure.Kubectl.RunAsync(kubeconfig, dir, "get", "dgd,dgdsa,pods", "-o", "wide");
                    throw new TimeoutException($"timed out after {Timeout.TotalSeconds} s waiting for {what}; cluster now:\n{state.All}");
                }
                await Task.Delay(500);
            }
        }
    }

    private sealed record Pod(string Name, string Uid, string Component, string Ip, bool Ready, int Restarts);

    private static async Task<JsonObject> ChatAsync(HttpClient http, string prompt, int maxTokens)
    {
        using var response = await http.PostAsJsonAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = "tiny",
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
            ["max_tokens"] = maxTokens,
            ["ignore_eos"] = true,
        });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST /v1/chat/completions: {(int)response.StatusCode} {body}");
        return (JsonObject)JsonNode.Parse(body)!;
    }

    /// <summary>Completed requests of a worker pod, from its own /metrics on its pod IP.</summary>
    private static async Task<double> ServedAsync(Pod pod)
    {
        var process = PodProcess(pod);
        var port = System.Text.RegularExpressions.Regex.Match(process.CommandLine, @"--port (\d+)").Groups[1].Value;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var text = await http.GetStringAsync($"http://{pod.Ip}:{port}/metrics");
        return text.Split('\n')
            .Where(l => l.StartsWith("dynamo_component_requests_total{", StringComparison.Ordinal) && l.Contains("status=\"200\"", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static int? TryPodProcess(Pod pod)
    {
        if (string.IsNullOrEmpty(pod.Ip)) return null;
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
        return null;
    }

    /// <summary>The process a pod runs: the one whose arguments name the pod's own IP (each pod binds its own 127.244.x.y).</summary>
    private static (int Pid, string CommandLine) PodProcess(Pod pod)
    {
        Assert.False(string.IsNullOrEmpty(pod.Ip), $"pod {pod.Name} has no IP yet");
        var found = new List<(int, string)>();
        foreach (var entry in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid)) continue;
            try
            {
                var words = File.ReadAllText(Path.Combine(entry, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
                if (words.Contains(pod.Ip)) found.Add((pid, string.Join(' ', words)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        Assert.True(found.Count == 1, $"expected one process for pod {pod.Name} ({pod.Ip}), found {found.Count}: {string.Join(" | ", found.Select(f => f.Item2))}");
        return found[0];
    }

    private static bool IsAlive(int pid) => File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Length > 0;
}
