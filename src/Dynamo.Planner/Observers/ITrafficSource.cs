using Dynamo.Runtime.Observability;

namespace Dynamo.Planner.Observers;

/// <summary>Where the gateways' counters are read: in process (the embedded gateway) or over HTTP (frontends' <c>/metrics</c>).</summary>
public interface ITrafficSource
{
    /// <summary>The counters now. Throws when the source cannot be read.</summary>
    Task<TrafficTotals> ReadAsync(CancellationToken cancellationToken);
}
