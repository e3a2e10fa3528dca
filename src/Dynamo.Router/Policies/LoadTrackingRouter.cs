using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Routing;
using Dynamo.Router.Load;
using Dynamo.Router.Sessions;

namespace Dynamo.Router.Policies;

/// <summary>
/// Base of the simple policies: they differ only in how they pick an index; all of them keep the active-load
/// bookkeeping the gateway reports through <see cref="IWorkerRouter"/>, skip busy workers (<see cref="BusyWorkers"/>)
/// while another candidate is not busy, and honour session affinity (<see cref="SessionAffinity"/>) before they pick.
/// </summary>
public abstract class LoadTrackingRouter : IWorkerRouter, IAsyncDisposable
{
    private readonly BusyWorkers? _busy;

    /// <param name="sessions">Session affinity; null: one with the default options.</param>
    /// <param name="busy">The busy thresholds; null: none (no worker is ever busy). Disposed with this router.</param>
    protected LoadTrackingRouter(ActiveLoadTracker load, SessionAffinity? sessions = null, BusyWorkers? busy = null)
    {
        Load = load;
        Sessions = sessions ?? new SessionAffinity(new RouterOptions(), TimeProvider.System);
        _busy = busy;
    }

    /// <inheritdoc />
    public IWorkerAvailability? Availability => _busy;

    public abstract string Name { get; }

    /// <summary>Where each <c>nvext.session_id</c> is served.</summary>
    public SessionAffinity Sessions { get; }

    protected ActiveLoadTracker Load { get; }

    public RoutingDecision Select(RoutingRequest request, IReadOnlyList<WorkerInstance> candidates)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (candidates.Count == 0)
        {
            throw new ArgumentException("No candidate workers.", nameof(candidates));
        }

        // A busy worker is no candidate while another is not (a session on it moves, as from a worker that left).
        candidates = _busy?.Free(candidates) ?? candidates;
        var session = request.Hints?.SessionId;
        var known = false;
        var sticky = session is null ? -1 : Sessions.Find(session, candidates, out known);
        if (sticky >= 0 && Sessions.ChecksLoad && candidates.Count > 1)
        {
            var fewest = int.MaxValue;
            for (var i = 0; i < candidates.Count; i++)
            {
                fewest = Math.Min(fewest, Load.Get(candidates[i].InstanceId).Requests);
            }

            if (Sessions.IsOverloaded(Load.Get(candidates[sticky].InstanceId).Requests, fewest))
            {
                sticky = -1;
            }
        }

        var worker = sticky >= 0 ? candidates[sticky] : candidates.Count == 1 ? candidates[0] : candidates[Pick(candidates)];
        var decision = new RoutingDecision(request.RequestId, worker, OverlapBlocks: 0, request.PromptTokens.Length)
        {
            Policy = Name,
            Session = Sessions.Complete(session, sticky >= 0, known, worker),
        };
        Load.Add(decision);
        _busy?.Routed(worker.InstanceId);
        return decision;
    }

    public void MarkPrefilled(RoutingDecision decision) => Load.MarkPrefilled(decision);

    public void Complete(RoutingDecision decision)
    {
        Load.Complete(decision);
        _busy?.Completed(decision.Worker.InstanceId);
    }

    public void RemoveWorker(string instanceId)
    {
        Load.RemoveWorker(instanceId);
        Sessions.RemoveWorker(instanceId);
        _busy?.RemoveWorker(instanceId);
    }

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return _busy?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    /// <summary>Index into <paramref name="candidates"/> (at least two).</summary>
    protected abstract int Pick(IReadOnlyList<WorkerInstance> candidates);
}
