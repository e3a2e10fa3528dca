using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;

namespace Dynamo.Bench.Replay;

/// <summary>The workers of one role, the router that picks among them, and what the planner last asked of them.</summary>
internal sealed class SimPool(WorkerRole role, string prefix, IWorkerRouter router, Action<KvEvent>? feed, Action<WorkerInstance>? announce)
{
    public WorkerRole Role { get; } = role;

    /// <summary>Worker ids are PREFIX-0, PREFIX-1, … in the order they are asked for; never reused.</summary>
    public string Prefix { get; } = prefix;

    public IWorkerRouter Router { get; } = router;

    public Action<KvEvent>? Feed { get; } = feed;

    public Action<WorkerInstance>? Announce { get; } = announce;

    /// <summary>Every worker the pool has had, in the order asked for.</summary>
    public List<SimWorker> Workers { get; } = [];

    /// <summary>The router's candidates: ready workers, in the order they became ready.</summary>
    public List<WorkerInstance> Routable { get; } = [];

    public int Desired { get; set; }

    public int Created { get; set; }

    public int Count(SimWorkerState state) => Workers.Count(w => w.State == state);
}
