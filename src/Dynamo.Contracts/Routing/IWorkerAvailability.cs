using Dynamo.Contracts.Discovery;

namespace Dynamo.Contracts.Routing;

/// <summary>
/// Which workers take no new requests now: those over a busy threshold (the router's <c>BusyKvUsage</c> and
/// <c>BusyWaitingRequests</c>). The router already steers around them while some candidate is not busy; when every
/// candidate is, the gateway holds the request and asks again after <see cref="Changed"/>.
/// </summary>
public interface IWorkerAvailability
{
    /// <summary>True when every one of <paramref name="candidates"/> (at least one) is busy.</summary>
    bool AllBusy(IReadOnlyList<WorkerInstance> candidates);

    /// <summary>
    /// Completes at the next event that may free a worker (a load report, a completion). Take it before testing
    /// <see cref="AllBusy"/>, so that a change between the test and the wait is not missed.
    /// </summary>
    Task Changed { get; }

    /// <summary>Workers busy now for <paramref name="reason"/> (a worker over both thresholds counts under both).</summary>
    int BusyCount(BusyReason reason);
}
