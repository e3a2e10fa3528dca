using Dynamo.Contracts.Discovery;
using Dynamo.Router.Load;
using Dynamo.Router.Sessions;

namespace Dynamo.Router.Policies;

public sealed class RandomRouter(ActiveLoadTracker load, Random random, SessionAffinity? sessions = null, BusyWorkers? busy = null) : LoadTrackingRouter(load, sessions, busy)
{
    public override string Name => "random";

    protected override int Pick(IReadOnlyList<WorkerInstance> candidates)
    {
        lock (random)
        {
            return random.Next(candidates.Count);
        }
    }
}
