using System.Diagnostics;
using System.Text.Json.Nodes;
using Dynamo.Operator.Api;
using Dynamo.Operator.Client;
using Dynamo.Operator.Reconcile;
using Microsoft.Extensions.Logging;

namespace Dynamo.Operator.Controller;

/// <summary>
/// The operator's control loop: informers on graphs, scaling adapters, Deployments and the other owned kinds feed
/// graph keys (<c>namespace/name</c>) into a <see cref="WorkQueue"/>; workers reconcile them one key at a time. A
/// failed reconcile is logged, reported as an Event and retried with per-key exponential backoff; it never stops
/// the loop. Changes to owned objects (found by their graph label) wake their graph, so a deleted Deployment is
/// recreated and a <c>kubectl scale</c> of an adapter reaches its pods.
/// </summary>
public sealed partial class GraphController : IDisposable
{
    private readonly KubeApiClient _api;
    private readonly GraphReconciler _reconciler;
    private readonly EventRecorder _events;
    private readonly OperatorMetrics _metrics;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string? _namespace;
    private readonly int _workers;
    private readonly List<Informer> _informers = [];
    private readonly TimeSpan _resync;

    /// <param name="ns">The namespace to watch, or null for all.</param>
    /// <param name="resync">How often every known graph is reconciled even without a change (default 5 min): objects the
    /// informers do not watch (a deleted Secret) come back, and nothing depends on an event never lost.</param>
    public GraphController(KubeApiClient api, string? ns, ILoggerFactory loggerFactory, OperatorMetrics? metrics = null, TimeProvider? time = null, int workers = 2, TimeSpan? baseBackoff = null, TimeSpan? resync = null)
    {
        _resync = resync ?? TimeSpan.FromMinutes(5);
        _api = api;
        _namespace = ns;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<GraphController>();
        _metrics = metrics ?? new OperatorMetrics();
        _time = time ?? TimeProvider.System;
        _workers = workers;
        _events = new EventRecorder(api, loggerFactory.CreateLogger<EventRecorder>(), _time);
        _reconciler = new GraphReconciler(api, _events, loggerFactory.CreateLogger<GraphReconciler>(), _metrics, _time);
        Queue = new WorkQueue(_time, baseBackoff ?? TimeSpan.FromMilliseconds(500), TimeSpan.FromMinutes(5));
    }

    public WorkQueue Queue { get; }

    public GraphReconciler Reconciler => _reconciler;

    /// <summary>The informers, graphs first (for tests: lists done, resourceVersions).</summary>
    public IReadOnlyList<Informer> Informers => _informers;

    /// <summary>Completes once every informer has delivered its first list.</summary>
    public Task Synced => Task.WhenAll(_informers.Select(i => i.Synced));

    /// <summary>Runs until cancelled: informers, then the workers.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var owned = $"{GraphApi.ManagedByLabel}={GraphApi.Manager}";
        _informers.Clear();
        _informers.Add(NewInformer(KubeResource.Graphs, null, (_, obj) => Queue.Add(Informer.KeyOf(obj))));
        foreach (var resource in new[] { KubeResource.Adapters, KubeResource.Deployments, KubeResource.Services, KubeResource.StatefulSets, KubeResource.ConfigMaps })
        {
            _informers.Add(NewInformer(resource, owned, (_, obj) => EnqueueOwner(obj)));
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tasks = _informers.Select(i => Task.Run(() => i.RunAsync(stop.Token), CancellationToken.None)).ToList();
        using var registration = stop.Token.Register(Queue.ShutDown);
        tasks.AddRange(Enumerable.Range(0, _workers).Select(_ => Task.Run(() => WorkAsync(stop.Token), CancellationToken.None)));
        tasks.Add(Task.Run(() => ResyncAsync(stop.Token), CancellationToken.None));
        LogStarted(_logger, _namespace ?? "(all namespaces)", _workers);
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
    }

    private async Task ResyncAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_resync, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                foreach (var graph in _informers[0].Items)
                {
                    Queue.Add(Informer.KeyOf(graph));
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private Informer NewInformer(KubeResource resource, string? selector, Action<string, JsonObject> handler) =>
        new(_api, resource, _namespace, selector, handler, _loggerFactory.CreateLogger<Informer>(), _time);

    private void EnqueueOwner(JsonObject obj)
    {
        var meta = obj["metadata"];
        if (meta?["labels"]?[GraphApi.GraphLabel]?.GetValue<string>() is { } graph && meta["namespace"]?.GetValue<string>() is { } ns)
        {
            Queue.Add(Informer.Key(ns, graph));
        }
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            string? key;
            try
            {
                key = await Queue.TakeAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            if (key is null)
            {
                return;
            }

            _metrics.QueueDepth.Set(Queue.Depth);
            var started = Stopwatch.GetTimestamp();
            var split = key.Split('/', 2);
            try
            {
                var outcome = await _reconciler.ReconcileAsync(split[0], split[1], cancellationToken).ConfigureAwait(false);
                Queue.Forget(key);
                _metrics.Reconciles.WithLabels(outcome == ReconcileOutcome.Invalid ? "invalid" : "success").Inc();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception error)
            {
                _metrics.Reconciles.WithLabels("error").Inc();
                var delay = Queue.AddRateLimited(key);
                LogFailed(_logger, error, key, Queue.Failures(key), delay.TotalSeconds);
                await ReportFailureAsync(split[0], split[1], error, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _metrics.ReconcileDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
                Queue.Done(key);
            }
        }
    }

    private async Task ReportFailureAsync(string ns, string name, Exception error, CancellationToken cancellationToken)
    {
        try
        {
            var graph = await _api.GetAsync(KubeResource.Graphs, ns, name, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (graph is not null)
            {
                await _events.RecordAsync(graph, EventRecorder.Warning, "ReconcileFailed", $"{error.GetType().Name}: {error.Message} (retrying with backoff)", cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception reportError) when (reportError is KubeApiException or HttpRequestException or IOException)
        {
            // The API server is unreachable; the log line above says what failed.
        }
    }

    public void Dispose() => Queue.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Graph controller started: watching {Namespace} with {Workers} workers")]
    private static partial void LogStarted(ILogger logger, string @namespace, int workers);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconcile of {Key} failed (failure {Failures}); retrying in {DelaySeconds:F1} s")]
    private static partial void LogFailed(ILogger logger, Exception error, string key, int failures, double delaySeconds);
}
