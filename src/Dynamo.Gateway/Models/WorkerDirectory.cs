using System.Collections.Frozen;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Routing;

namespace Dynamo.Gateway.Models;

/// <summary>
/// Candidate workers per model, rebuilt on each discovery change so the request path reads a ready array
/// instead of filtering the instance list per request.
/// </summary>
internal sealed class WorkerDirectory : IDisposable
{
    private readonly IDiscovery _discovery;
    private readonly IWorkerRouter _router;
    private FrozenDictionary<string, WorkerInstance[]> _byModel = FrozenDictionary<string, WorkerInstance[]>.Empty;
    private FrozenDictionary<string, WorkerInstance[]> _prefillByModel = FrozenDictionary<string, WorkerInstance[]>.Empty;

    public WorkerDirectory(IDiscovery discovery, IWorkerRouter router)
    {
        _discovery = discovery;
        _router = router;
        _discovery.Changed += OnChanged;
        Rebuild();
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

        Rebuild();
    }

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
