using Dynamo.Contracts.Discovery;
using Dynamo.Router.Load;

namespace Dynamo.Router.Policies;

public sealed class RandomRouter(ActiveLoadTracker load, Random random) : LoadTrackingRouter(load)
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
