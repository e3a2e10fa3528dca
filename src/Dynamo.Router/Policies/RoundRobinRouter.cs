using Dynamo.Contracts.Discovery;
using Dynamo.Router.Load;
using Dynamo.Router.Sessions;

namespace Dynamo.Router.Policies;

public sealed class RoundRobinRouter(ActiveLoadTracker load, SessionAffinity? sessions = null, BusyWorkers? busy = null) : LoadTrackingRouter(load, sessions, busy)
{
    private uint _next = uint.MaxValue;

    public override string Name => "round-robin";

    protected override int Pick(IReadOnlyList<WorkerInstance> candidates) =>
        (int)(Interlocked.Increment(ref _next) % (uint)candidates.Count);
}
