using Dynamo.Contracts.Discovery;

namespace Dynamo.Contracts.Routing;

/// <summary>
/// Picks the worker for a request. Round-robin, random, least-loaded and the KV-aware router implement it.
/// The router tracks the load it predicts: a decision is active until <see cref="Complete"/>.
/// </summary>
public interface IWorkerRouter
{
    string Name { get; }

    /// <summary>Chooses among <paramref name="candidates"/> (never empty); the decision counts as active load.</summary>
    RoutingDecision Select(RoutingRequest request, IReadOnlyList<WorkerInstance> candidates);

    /// <summary>The first token came back: the request's prompt is no longer prefill load.</summary>
    void MarkPrefilled(RoutingDecision decision);

    /// <summary>The request ended (finished, failed or cancelled): its load is gone.</summary>
    void Complete(RoutingDecision decision);

    /// <summary>A worker left discovery: forget everything about it.</summary>
    void RemoveWorker(string instanceId);

    /// <summary>The busy thresholds this router applies; null when it applies none (no load reports, or thresholds off).</summary>
    IWorkerAvailability? Availability => null;
}
