namespace Dynamo.Contracts.Routing;

/// <summary>Which busy threshold a worker is over (<see cref="IWorkerAvailability"/>).</summary>
public enum BusyReason
{
    /// <summary>The share of its KV blocks in use reached <c>Dynamo:Router:BusyKvUsage</c>.</summary>
    KvUsage,

    /// <summary>Its waiting requests reached <c>Dynamo:Router:BusyWaitingRequests</c>.</summary>
    WaitingRequests,
}
