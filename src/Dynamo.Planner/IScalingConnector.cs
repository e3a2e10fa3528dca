using Dynamo.Contracts;

namespace Dynamo.Planner;

/// <summary>
/// How the planner acts on a cluster: count the workers of each pool, ask for new counts, and learn when the
/// last request has been carried out. One implementation per place workers live: the embedded cluster
/// (<c>dynamo serve --planner</c>), local processes, a virtual target on the event plane, Kubernetes.
/// </summary>
/// <remarks>
/// A connector never drops a request on scale-down: a worker it removes first leaves discovery, then finishes
/// (or migrates) its streams, then stops. <see cref="SetTargetsAsync"/> returns once the request is accepted;
/// readiness is learned from <see cref="GetPoolsAsync"/>.
/// </remarks>
public interface IScalingConnector
{
    /// <summary>The connector's name as configured (<c>embedded</c>, <c>local</c>, <c>virtual</c>, <c>kubernetes</c>).</summary>
    string Name { get; }

    /// <summary>The pools this cluster has and, for each, how many workers are wanted, exist and are ready.</summary>
    Task<IReadOnlyList<PoolState>> GetPoolsAsync(CancellationToken cancellationToken);

    /// <summary>Asks for the given worker counts. Pools not named keep their count.</summary>
    Task SetTargetsAsync(ScalingTargets targets, CancellationToken cancellationToken);
}

/// <summary>One pool's size as the connector sees it.</summary>
/// <param name="Role">The pool: prefill, decode, or aggregated workers.</param>
/// <param name="Desired">The count last asked for (or configured at start).</param>
/// <param name="Actual">Workers that exist, ready or starting; draining workers are not counted.</param>
/// <param name="Ready">Workers registered in discovery and serving.</param>
public sealed record PoolState(WorkerRole Role, int Desired, int Actual, int Ready)
{
    /// <summary>Whether the pool has reached what was last asked for.</summary>
    public bool Settled => Actual == Desired && Ready == Desired;
}

/// <summary>A scaling request: wanted workers per pool, and why (logged, exported, carried to outside systems).</summary>
public sealed record ScalingTargets(IReadOnlyDictionary<WorkerRole, int> Workers, string Reason);
