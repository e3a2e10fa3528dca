using System.Collections.Frozen;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Routing;
using Microsoft.Extensions.Logging;

namespace Dynamo.Gateway.Models;

/// <summary>
/// Candidate workers per model, rebuilt on each discovery change so the request path reads a ready array
/// instead of filtering the instance list per request. A worker in discovery whose model this gateway has no card
/// for can never be sent a request: it is logged as a warning naming both models, once per worker, and not counted
/// by <c>/health</c>.
/// </summary>
internal sealed partial class WorkerDirectory : IDisposable
{
    private readonly IDiscovery _discovery;
    private readonly IWorkerRouter _router;
    private readonly ModelCatalog _models;
    private readonly ILogger _logger;
    private FrozenDictionary<string, WorkerInstance[]> _byModel = FrozenDictionary<string, WorkerInstance[]>.Empty;
    private FrozenDictionary<string, WorkerInstance[]> _prefillByModel = FrozenDictionary<string, WorkerInstance[]>.Empty;

    public WorkerDirectory(IDiscovery discovery, IWorkerRouter router, ModelCatalog models, ILogger<WorkerDirectory> logger)
    {
        _discovery = discovery;
        _router = router;
        _models = models;
        _logger = logger;
        _discovery.Changed += OnChanged;
        foreach (var instance in _discovery.GetInstances())
        {
            WarnIfNotServed(instance);
        }

        Rebuild();
    }

    /// <summary>Workers in discovery whose model this gateway serves: those that can be sent requests.</summary>
    public int ServableCount
    {
        get
        {
            var count = 0;
            foreach (var instance in _discovery.GetInstances())
            {
                if (_models.TryGet(instance.Model, out _))
                {
                    count++;
                }
            }

            return count;
        }
    }

    public IReadOnlyList<WorkerInstance> Candidates(string model) =>
        Volatile.Read(ref _byModel).TryGetValue(model, out var workers) ? workers : [];

    /// <summary>Prefill-only workers of <paramref name="model"/>: the disaggregated path's prefill pool.</summary>
    public IReadOnlyList<WorkerInstance> PrefillCandidates(string model) =>
        Volatile.Read(ref _prefillByModel).TryGetValue(model, out var workers) ? workers : [];

    public IEnumerable<string> ServedModels => Volatile.Read(ref _byModel).Keys;

    public void Dispose() => _discovery.Changed -= OnChanged;

    private void OnChanged(DiscoveryChange change)
    {
        if (change.Kind == DiscoveryChangeKind.Removed)
        {
            _router.RemoveWorker(change.Instance.InstanceId);
        }
        else if (change.Kind == DiscoveryChangeKind.Added)
        {
            WarnIfNotServed(change.Instance);
        }

        Rebuild();
    }

    private void WarnIfNotServed(WorkerInstance instance)
    {
        if (!_models.TryGet(instance.Model, out _))
        {
            LogModelNotServed(instance.InstanceId, instance.Address, instance.Model, string.Join(", ", _models.Names.Order(StringComparer.Ordinal)));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker {Worker} at {Address} serves model '{WorkerModel}', which this frontend does not serve (it serves '{FrontendModels}'): no request will reach it. Start the worker with --served-model-name set to the frontend's model, or the frontend with the worker's model")]
    private partial void LogModelNotServed(string worker, Uri address, string workerModel, string frontendModels);

    private void Rebuild()
    {
        // Prefill-only workers never serve a whole request; they are reached through the disaggregated path.
        var instances = _discovery.GetInstances();
        var byModel = instances
            .Where(i => i.Role != WorkerRole.Prefill)
            .GroupBy(i => i.Model, StringComparer.Ordinal)
            .ToFrozenDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
        var prefillByModel = instances
            .Where(i => i.Role == WorkerRole.Prefill)
            .GroupBy(i => i.Model, StringComparer.Ordinal)
            .ToFrozenDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
        Volatile.Write(ref _byModel, byModel);
        Volatile.Write(ref _prefillByModel, prefillByModel);
    }
}
