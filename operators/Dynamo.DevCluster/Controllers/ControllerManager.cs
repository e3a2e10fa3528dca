using System.Threading.Channels;
using Dynamo.DevCluster.Store;
using Microsoft.Extensions.Logging;

namespace Dynamo.DevCluster.Controllers;

/// <summary>
/// The dev cluster's kube-controller-manager: the Deployment, ReplicaSet, StatefulSet and Endpoints controllers,
/// level-triggered against the in-process store. Any change to a Deployment, ReplicaSet, StatefulSet, Pod, Service or
/// Endpoints wakes one pass over all of them (changes arriving together are taken in one pass); a pass also runs
/// every <see cref="ResyncInterval"/>. Writes go through the store's admission and watch like any client's.
/// </summary>
public sealed class ControllerManager : IAsyncDisposable
{
    private readonly ObjectStore _store;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly ResourceType _deployments, _replicaSets, _statefulSets, _pods, _services, _endpoints;
    private readonly DeploymentController _deploymentController;
    private readonly ReplicaSetController _replicaSetController;
    private readonly StatefulSetController _statefulSetController;
    private readonly EndpointsController _endpointsController;
    private readonly List<Task> _tasks = [];
    private readonly HashSet<string> _reported = [];
    private readonly EventRecorder _events;
    private long _passes;

    public ControllerManager(ObjectStore store, ILoggerFactory loggerFactory, TimeProvider? time = null)
    {
        _store = store;
        time ??= TimeProvider.System;
        _logger = loggerFactory.CreateLogger("Dynamo.DevCluster.Controllers");
        var registry = store.Registry;
        _deployments = registry.FindKind("apps/v1", "Deployment")!;
        _replicaSets = registry.FindKind("apps/v1", "ReplicaSet")!;
        _statefulSets = registry.FindKind("apps/v1", "StatefulSet")!;
        _pods = registry.FindKind("v1", "Pod")!;
        _services = registry.FindKind("v1", "Service")!;
        _endpoints = registry.FindKind("v1", "Endpoints")!;
        var events = new EventRecorder(store, "controller-manager", null, time, _logger);
        _events = events;
        _deploymentController = new DeploymentController(store, _deployments, _replicaSets, events, time);
        _replicaSetController = new ReplicaSetController(store, _replicaSets, _pods, events);
        _statefulSetController = new StatefulSetController(store, _statefulSets, _pods, events);
        _endpointsController = new EndpointsController(store, _endpoints);
    }

    /// <summary>How often a pass runs without any change (default 5 s).</summary>
    public TimeSpan ResyncInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Passes run so far.</summary>
    public long Passes => Interlocked.Read(ref _passes);

    public void Start()
    {
        var from = _store.CurrentResourceVersion;
        foreach (var type in new[] { _deployments, _replicaSets, _statefulSets, _pods, _services, _endpoints })
        {
            _tasks.Add(Task.Run(() => WatchAsync(type, from)));
        }
        _tasks.Add(Task.Run(RunAsync));
        _wake.Writer.TryWrite(true);
    }

    private async Task WatchAsync(ResourceType type, long from)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await foreach (var _ in _store.WatchAsync(type, from, _stop.Token))
                {
                    _wake.Writer.TryWrite(true);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (ApiException e) when (e.Code == 410)
            {
                // Fell behind the kept window: start over from now; the pass that follows lists everything anyway.
            }
            from = _store.CurrentResourceVersion;
            _wake.Writer.TryWrite(true);
        }
    }

    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var resync = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                resync.CancelAfter(ResyncInterval);
                try
                {
                    await _wake.Reader.ReadAsync(resync.Token);
                }
                catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
                {
                    // Resync.
                }
                // Let a burst of changes (a kubectl apply of several objects) land before the pass.
                await Task.Delay(20, _stop.Token);
                _wake.Reader.TryRead(out _);
                Pass();
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (ApiException e) when (e.Code is 409 or 404)
            {
                // A list or write raced another writer; the next pass starts from what is stored now.
                _logger.LogDebug("Controller pass retried after {Code}: {Message}", e.Code, e.Message);
                _wake.Writer.TryWrite(true);
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Controller pass failed; retrying");
                await Task.Delay(500, _stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                _wake.Writer.TryWrite(true);
            }
        }
    }

    /// <summary>One pass of every controller over everything stored.</summary>
    private void Pass()
    {
        Interlocked.Increment(ref _passes);
        var replicaSets = _store.List(_replicaSets, null).Items;
        foreach (var d in _store.List(_deployments, null).Items) Guard(d, () => _deploymentController.Sync(d, replicaSets));

        var pods = _store.List(_pods, null).Items;
        foreach (var rs in _store.List(_replicaSets, null).Items) Guard(rs, () => _replicaSetController.Sync(rs, pods));
        foreach (var sts in _store.List(_statefulSets, null).Items) Guard(sts, () => _statefulSetController.Sync(sts, pods));

        pods = _store.List(_pods, null).Items;
        foreach (var svc in _store.List(_services, null).Items) Guard(svc, () => _endpointsController.Sync(svc, pods));
    }

    /// <summary>
    /// One object's sync: a conflict or a vanished object asks for another pass at once; a refused write (an invalid
    /// pod template, a terminating namespace) is a Warning Event and waits for the next change or resync, so a bad
    /// object neither stops the others nor spins.
    /// </summary>
    private void Guard(System.Text.Json.Nodes.JsonObject obj, Action sync)
    {
        try
        {
            sync();
        }
        catch (ApiException e) when (e.Code is 409 or 404)
        {
            _logger.LogDebug("Sync of {Kind} {Name} retried after {Code}: {Message}", (string?)obj["kind"], Objects.Name(obj), e.Code, e.Message);
            _wake.Writer.TryWrite(true);
        }
        catch (ApiException e)
        {
            var key = $"{Objects.Uid(obj)}/{e.Message}";
            if (_reported.Add(key)) _events.Warning(obj, "FailedSync", e.Message);
        }
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        // Idempotent, as DisposeAsync must be: a host disposed twice (await using plus a finally) stops once.
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll(_tasks);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        _stop.Dispose();
    }
}
