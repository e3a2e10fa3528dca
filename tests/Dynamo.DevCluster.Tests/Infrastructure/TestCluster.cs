using System.Diagnostics;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Node;
using Dynamo.DevCluster.Store;
using Dynamo.Runtime.Tests.Infrastructure;
using k8s;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests.Infrastructure;

/// <summary>
/// The whole one-machine cluster (API server, controllers, node agent) with a temporary data folder, a kubeconfig,
/// a KubernetesClient, and waits on the in-process store. Disposing it stops the node agent and then checks that
/// no process it started is still alive.
/// </summary>
internal sealed class TestCluster : IAsyncDisposable
{
    private readonly ILoggerFactory _loggers;
    private readonly HashSet<int> _seenPids = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _pidWatcher;

    private TestCluster(DevClusterHost host, ILoggerFactory loggers, string dir, string kubeconfig)
    {
        Host = host;
        _loggers = loggers;
        Directory = dir;
        Kubeconfig = kubeconfig;
        Client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
        _pidWatcher = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                foreach (var pid in Host.Node.ProcessIds) lock (_seenPids) _seenPids.Add(pid);
                await Task.Delay(50).ConfigureAwait(false);
            }
        });
    }

    public DevClusterHost Host { get; }

    public ObjectStore Store => Host.Server.Store;

    public Kubernetes Client { get; }

    public string Directory { get; }

    public string Kubeconfig { get; }

    public bool Disposed { get; private set; }

    public static async Task<TestCluster> StartAsync(ITestOutputHelper output)
    {
        var loggers = TestOutputLoggerProvider.Factory(output);
        var dir = Path.Combine(Path.GetTempPath(), "dynamo-devcluster-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(dir);
        var host = await DevClusterHost.StartAsync(
            new DevApiServerOptions { GracefulPodDeletion = true },
            new NodeAgentOptions
            {
                DataDirectory = Path.Combine(dir, "data"),
                Dynamo = new DynamoCommand("dotnet", [Path.Combine(AppContext.BaseDirectory, "dynamo.dll")]),
                RestartBackoff = TimeSpan.FromSeconds(1),
                MaxRestartBackoff = TimeSpan.FromSeconds(4),
            },
            loggers);
        var kubeconfig = Path.Combine(dir, "kubeconfig");
        host.Server.WriteKubeconfig(kubeconfig);
        return new TestCluster(host, loggers, dir, kubeconfig);
    }

    public ResourceType Type(string apiVersion, string kind) => Store.Registry.FindKind(apiVersion, kind)!;

    public JsonObject Create(string apiVersion, string kind, JsonObject obj) =>
        Store.Create(Type(apiVersion, kind), JsonPaths.GetString(obj, "metadata.namespace") ?? "default", obj);

    public List<JsonObject> List(string apiVersion, string kind, Func<JsonObject, bool>? filter = null) =>
        Store.List(Type(apiVersion, kind), "default", filter).Items;

    public JsonObject? Get(string apiVersion, string kind, string name) =>
        Store.TryGet(Type(apiVersion, kind), "default", name, out var o) ? o : null;

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> and the pods' states.</summary>
    public async Task WaitAsync(string what, Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout) Assert.Fail($"not within {timeout.TotalSeconds:0} s: {what}\n{Describe()}");
            await Task.Delay(100);
        }
    }

    /// <summary>Pods, phases, readiness and restarts, and the last lines of each container's log, for failure messages.</summary>
    public string Describe()
    {
        var lines = new List<string>();
        foreach (var p in Store.List(Type("v1", "Pod"), null).Items)
        {
            var cs = (JsonPaths.Get(p, "status.containerStatuses") as JsonArray)?.OfType<JsonObject>().FirstOrDefault();
            lines.Add($"pod {JsonPaths.GetString(p, "metadata.name")} ip={JsonPaths.GetString(p, "status.podIP")} phase={JsonPaths.GetString(p, "status.phase")} " +
                $"ready={cs?["ready"]} restarts={cs?["restartCount"]} state={cs?["state"]?.ToJsonString()} deleting={JsonPaths.GetString(p, "metadata.deletionTimestamp")}");
            var uid = JsonPaths.GetString(p, "metadata.uid")!;
            var log = Host.Node.LogPath("default", JsonPaths.GetString(p, "metadata.name")!, uid, "main");
            if (!File.Exists(log)) continue;
            var all = File.ReadAllLines(log);
            // Every start and exit, then the last lines.
            lines.AddRange(all.SkipLast(8).Where(l => l.StartsWith("--- ", StringComparison.Ordinal)).Select(l => "    " + (l.Length > 200 ? l[..200] + "…" : l)));
            lines.AddRange(all.TakeLast(8).Select(l => "    " + l));
        }
        return string.Join('\n', lines);
    }

    public static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Every process the node agent ran during the test (sampled every 50 ms).</summary>
    public IReadOnlyList<int> SeenProcessIds
    {
        get
        {
            lock (_seenPids) return [.. _seenPids];
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Disposed) return;
        Disposed = true;
        await _stop.CancelAsync();
        await _pidWatcher;
        Client.Dispose();
        await Host.DisposeAsync();
        var alive = SeenProcessIds.Where(IsAlive).ToList();
        _loggers.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A log still being closed; the temp folder is cleaned by the OS.
        }
        Assert.True(alive.Count == 0, $"pod processes left after the node agent stopped: {string.Join(", ", alive)}");
    }
}
