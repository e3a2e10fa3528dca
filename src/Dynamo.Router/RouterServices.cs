using Dynamo.Contracts.Discovery;
using Dynamo.Router.Indexing;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Logging;

namespace Dynamo.Router;

/// <summary>What a router may use from its host. Everything is optional: the KV router degrades to approximate mode without an event plane.</summary>
public sealed class RouterServices
{
    /// <summary>Where workers publish KV events and replicas share load.</summary>
    public IEventPlane? Events { get; init; }

    /// <summary>Workers joining (dumped) and leaving (purged); also their addresses for control calls.</summary>
    public IDiscovery? Discovery { get; init; }

    /// <summary>Replay and dump calls; default: HTTP to each worker's <c>/v1/kv/*</c>, authenticated with <see cref="ClusterSecret"/>.</summary>
    public IKvEventControl? KvEventControl { get; init; }

    /// <summary>
    /// The deployment's cluster secret: the default <see cref="KvEventControl"/> signs its calls with it, as workers
    /// require. Needed when KV events come with <see cref="Discovery"/> and no <see cref="KvEventControl"/> is given.
    /// </summary>
    public Runtime.Security.ClusterSecret? ClusterSecret { get; init; }

    public ILoggerFactory? LoggerFactory { get; init; }

    public TimeProvider? Time { get; init; }

    /// <summary>Identity of this router among its replicas (default: a random id).</summary>
    public string? ReplicaId { get; init; }
}
