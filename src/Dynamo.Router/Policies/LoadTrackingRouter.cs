using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Routing;
using Dynamo.Router.Load;

namespace Dynamo.Router.Policies;

/// <summary>
/// Base of the simple policies: they differ only in how they pick an index; all of them keep the active-load
/// bookkeeping the gateway reports through <see cref="IWorkerRouter"/>.
/// </summary>
public abstract class LoadTrackingRouter : IWorkerRouter
{
    protected LoadTrackingRouter(ActiveLoadTracker load) => Load = load;

    public abstract string Name { get; }

    protected ActiveLoadTracker Load { get; }

    public RoutingDecision Select(RoutingRequest request, IReadOnlyList<WorkerInstance> candidates)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (candidates.Count == 0)
        {
            throw new ArgumentException("No candidate workers.", nameof(candidates));
        }

        var worker = candidates.Count == 1 ? candidates[0] : candidates[Pick(candidates)];
        var decision = new RoutingDecision(request.RequestId, worker, OverlapBlocks: 0, request.PromptTokens.Length) { Policy = Name };
        Load.Add(decision);
        return decision;
    }

    public void MarkPrefilled(RoutingDecision decision) => Load.MarkPrefilled(decision);

    public void Complete(RoutingDecision decision) => Load.Complete(decision);

    public void RemoveWorker(string instanceId) => Load.RemoveWorker(instanceId);

    /// <summary>Index into <paramref name="candidates"/> (at least two).</summary>
    protected abstract int Pick(IReadOnlyList<WorkerInstance> candidates);
}
