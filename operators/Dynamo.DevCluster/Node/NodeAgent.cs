using System.Text.Json.Nodes;
using Dynamo.DevCluster.Controllers;
using Dynamo.DevCluster.Store;
using Microsoft.Extensions.Logging;

namespace Dynamo.DevCluster.Node;

/// <summary>
/// The dev cluster's one node, in process: a kubelet (binds unscheduled Pods to itself, runs each as local processes
/// on its own loopback address, reports status, probes, restarts, stops), a kube-proxy (<see cref="ServiceProxies"/>)
/// and the cluster DNS names of Services (rewritten in args and env, see <see cref="ContainerLaunchBuilder"/>).
/// Disposing it stops every pod process (SIGTERM, then SIGKILL after at most <see cref="NodeAgentOptions.ShutdownGrace"/>),
/// StatefulSet pods last.
/// </summary>
public sealed class NodeAgent : IAsyncDisposable
{
    private readonly Dictionary<string, PodWorker> _workers = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];
    private readonly LoopbackAddresses _podAddresses;
    private readonly ResourceType _services;
    private readonly EventRecorder _schedulerEvents;
    private readonly ServiceProxies _proxies;
    private bool _disposed;

    public NodeAgent(ObjectStore store, NodeAgentOptions options, ILoggerFactory loggerFactory, TimeProvider? time = null)
    {
        options.Validate();
        Store = store;
        Options = options;
        Time = time ?? TimeProvider.System;
        Log = loggerFactory.CreateLogger("Dynamo.DevCluster.Node");
        Pods = store.Registry.FindKind("v1", "Pod")!;
        _services = store.Registry.FindKind("v1", "Service")!;
        _podAddresses = new LoopbackAddresses(options.PodNetworkByte);
        Events = new EventRecorder(store, "kubelet", options.NodeName, Time, Log);
        _schedulerEvents = new EventRecorder(store, "default-scheduler", null, Time, Log);
        Launches = new ContainerLaunchBuilder(store, options.Dynamo ?? DynamoCommand.FromRunningProcess(), ServiceAddress, options.WorkingDirectory);
        // HTTPS probes do not verify the certificate, as the kubelet's do not.
#pragma warning disable CA5359
        ProbeClient = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.Zero,
            UseProxy = false,
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        })
        { Timeout = Timeout.InfiniteTimeSpan };
#pragma warning restore CA5359
        _proxies = new ServiceProxies(this);
    }

    internal ObjectStore Store { get; }

    internal NodeAgentOptions Options { get; }

    internal TimeProvider Time { get; }

    internal ILogger Log { get; }

    internal ResourceType Pods { get; }

    internal EventRecorder Events { get; }

    internal ContainerLaunchBuilder Launches { get; }

    internal HttpClient ProbeClient { get; }

    /// <summary>Where the agent counts what it does; null when not hosted beside a server's /metrics.</summary>
    internal NodeMetrics? Metrics { get; set; }

    /// <summary>
    /// The API server the pods reach: every container gets KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT for
    /// it and KUBECONFIG naming <see cref="PodKubeconfig"/> (no service account token is mounted, so a client's
    /// default configuration finds the kubeconfig). Null: neither.
    /// </summary>
    internal Uri? ApiServer { get; set; }

    /// <summary>A kubeconfig for <see cref="ApiServer"/>, given to containers as KUBECONFIG.</summary>
    internal string? PodKubeconfig { get; set; }

    /// <summary>The node's address, every Pod's status.hostIP.</summary>
    public string HostIp => "127.0.0.1";

    /// <summary>The process ids of every container running now (for tests that check nothing is left behind).</summary>
    public IReadOnlyList<int> ProcessIds
    {
        get
        {
            lock (_workers) return _workers.Values.SelectMany(w => w.ProcessIds).ToList();
        }
    }

    /// <summary>The log file of a pod's container (it exists once the container started).</summary>
    public string LogPath(string ns, string pod, string uid, string container) =>
        Path.Combine(Options.DataDirectory, "pods", $"{ns}_{pod}_{uid}", container + ".log");

    public void Start()
    {
        Directory.CreateDirectory(Options.DataDirectory);
        var (services, servicesVersion) = Store.List(_services, null);
        foreach (var s in services) SyncService(s);
        _tasks.Add(Task.Run(() => WatchAsync(_services, servicesVersion, OnServiceEvent)));
        var (pods, podsVersion) = Store.List(Pods, null);
        foreach (var p in pods) OnPod(p, deleted: false);
        _tasks.Add(Task.Run(() => WatchAsync(Pods, podsVersion, e => OnPod(e.Object, e.Type == "DELETED"))));
        Log.LogInformation("Node {Node} ready: pods on 127.{Byte}.0.0/16, Services on 127.{ServiceByte}.0.0/16, data in {DataDir}",
            Options.NodeName, Options.PodNetworkByte, NodeAgentOptions.ServiceNetworkByte, Options.DataDirectory);
    }

    private async Task WatchAsync(ResourceType type, long from, Action<Watch.WatchEvent> handle)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await foreach (var e in Store.WatchAsync(type, from, _stop.Token))
                {
                    from = e.ResourceVersion;
                    try
                    {
                        handle(e);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        Log.LogError(ex, "Node agent failed handling {Type} {Kind} {Name}", e.Type, type.Kind, Objects.Name(e.Object));
                    }
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (ApiException ex) when (ex.Code == 410)
            {
                // Relist: everything present is handled again (idempotent), then watch from there.
                var (items, version) = Store.List(type, null);
                foreach (var o in items) handle(new Watch.WatchEvent(version, "MODIFIED", type.StorageKey, Objects.Namespace(o), o, null));
                from = version;
            }
        }
    }

    private void OnServiceEvent(Watch.WatchEvent e) => SyncService(e.Type == "DELETED" ? null : e.Object, e.Object);

    private void SyncService(JsonObject service) => SyncService(service, service);

    private void SyncService(JsonObject? service, JsonObject seen) =>
        _proxies.Sync(Objects.Namespace(seen), Objects.Name(seen), service);

    /// <summary>The cluster IP of a Service, for the DNS names in args and env; null when it has none on loopback.</summary>
    private string? ServiceAddress(string ns, string name) =>
        Store.TryGet(_services, ns, name, out var svc) && JsonPaths.GetString(svc, "spec.clusterIP") is { } ip && LoopbackAddresses.IsLoopback(ip) ? ip : null;

    private void OnPod(JsonObject pod, bool deleted)
    {
        if (_disposed) return;
        var uid = Objects.Uid(pod);
        PodWorker? worker;
        lock (_workers) _workers.TryGetValue(uid, out worker);

        if (deleted)
        {
            if (worker is not null) _ = StopAndForgetAsync(worker, TimeSpan.Zero, deleteFromStore: false);
            return;
        }
        var node = JsonPaths.GetString(pod, "spec.nodeName");
        if (string.IsNullOrEmpty(node))
        {
            if (!Objects.IsDeleting(pod)) Bind(pod);
            return;
        }
        if (node != Options.NodeName) return;
        if (worker is not null)
        {
            worker.Update(pod);
            if (Objects.IsDeleting(pod) && !worker.Stopping)
            {
                var grace = TimeSpan.FromSeconds(JsonPaths.GetLong(pod, "metadata.deletionGracePeriodSeconds") ?? 30);
                _ = StopAndForgetAsync(worker, grace, deleteFromStore: true);
            }
            return;
        }
        if (Objects.IsDeleting(pod))
        {
            // Never started here: nothing to stop.
            DeleteNow(pod);
            return;
        }
        if (JsonPaths.GetString(pod, "status.phase") is "Succeeded" or "Failed") return;
        var ip = _podAddresses.Allocate();
        worker = new PodWorker(this, pod, ip);
        lock (_workers) _workers[uid] = worker;
        Log.LogInformation("Pod {Namespace}/{Name} starting on {PodIp}", worker.Namespace, worker.Name, ip);
        worker.Start();
    }

    private void Bind(JsonObject pod)
    {
        try
        {
            var bound = Store.Update(Pods, Objects.Namespace(pod), Objects.Name(pod), o =>
            {
                if (Objects.Uid(o) != Objects.Uid(pod) || JsonPaths.GetString(o, "spec.nodeName") is { Length: > 0 }) return o;
                o["spec"]!["nodeName"] = Options.NodeName;
                return o;
            });
            _schedulerEvents.Normal(bound, "Scheduled", $"Successfully assigned {Objects.Namespace(pod)}/{Objects.Name(pod)} to {Options.NodeName}");
        }
        catch (ApiException e) when (e.Code is 404 or 409)
        {
            // Deleted or changed meanwhile; the watch brings the next version.
        }
    }

    private async Task StopAndForgetAsync(PodWorker worker, TimeSpan grace, bool deleteFromStore)
    {
        await worker.StopAsync(grace);
        _podAddresses.Release(worker.PodIp);
        lock (_workers) _workers.Remove(worker.Uid);
        worker.Dispose();
        Log.LogInformation("Pod {Namespace}/{Name} stopped", worker.Namespace, worker.Name);
        if (deleteFromStore && !_disposed) DeleteNow(worker.Pod);
    }

    private void DeleteNow(JsonObject pod)
    {
        try
        {
            Store.Delete(Pods, Objects.Namespace(pod), Objects.Name(pod), new DeleteRequest { GracePeriodSeconds = 0, PreconditionUid = Objects.Uid(pod) });
        }
        catch (ApiException e) when (e.Code is 404 or 409)
        {
            // Gone already, or a new Pod of the same name.
        }
    }

    /// <summary>Stops every pod process (SIGTERM, SIGKILL after the grace period, at most ShutdownGrace) and the proxies.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll(_tasks);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        List<PodWorker> workers;
        lock (_workers) workers = [.. _workers.Values];
        // Two waves: StatefulSet pods (the managed NATS, stores) last, so the others can still deregister through them
        // while they drain.
        static bool Stateful(PodWorker w) => (JsonPaths.Get(w.Pod, "metadata.ownerReferences") as JsonArray)?.OfType<JsonObject>()
            .Any(r => (string?)r["kind"] == "StatefulSet") == true;
        await Task.WhenAll(workers.Where(w => !Stateful(w)).Select(w => w.StopAsync(w.GracePeriod < Options.ShutdownGrace ? w.GracePeriod : Options.ShutdownGrace)));
        await Task.WhenAll(workers.Where(Stateful).Select(w => w.StopAsync(w.GracePeriod < Options.ShutdownGrace ? w.GracePeriod : Options.ShutdownGrace)));
        await _proxies.DisposeAsync();
        ProbeClient.Dispose();
        _stop.Dispose();
        Log.LogInformation("Node {Node} stopped: {Count} pods' processes ended", Options.NodeName, workers.Count);
    }
}
