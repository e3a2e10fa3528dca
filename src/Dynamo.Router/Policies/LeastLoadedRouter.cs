using Dynamo.Contracts.Discovery;
using Dynamo.Router.Load;
using Dynamo.Router.Sessions;

namespace Dynamo.Router.Policies;

/// <summary>
/// Fewest active requests, then fewest active KV blocks; remaining ties are broken at random so that several
/// idle workers share a burst instead of the first one taking it all.
/// </summary>
public sealed class LeastLoadedRouter(ActiveLoadTracker load, Random random, SessionAffinity? sessions = null, BusyWorkers? busy = null) : LoadTrackingRouter(load, sessions, busy)
{
    public override string Name => "least-loaded";

    protected override int Pick(IReadOnlyList<WorkerInstance> candidates)
    {
        var best = -1;
        var ties = 0;
        ActiveLoad bestLoad = default;
        for (var i = 0; i < candidates.Count; i++)
        {
            var current = Load.Get(candidates[i].InstanceId);
            var order = best < 0 ? -1 : Compare(current, bestLoad);
            if (order < 0)
            {
                best = i;
                bestLoad = current;
                ties = 1;
            }
            else if (order == 0)
            {
                // Reservoir sampling over the tied set: each tie wins with probability 1/ties.
                ties++;
                int draw;
                lock (random)
                {
                    draw = random.Next(ties);
                }

                if (draw == 0)
                {
                    best = i;
                }
            }
        }

        return best;
    }

    private static int Compare(ActiveLoad a, ActiveLoad b)
    {
        var byRequests = a.Requests.CompareTo(b.Requests);
        return byRequests != 0 ? byRequests : a.Blocks.CompareTo(b.Blocks);
    }
}
