using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;
using Dynamo.Router;
using Dynamo.Router.Kv;

namespace Dynamo.Bench.Replay;

/// <summary>
/// Builds the simulation's routers through <see cref="RouterFactory"/>, on the virtual clock. The KV router gets an
/// event plane that delivers nothing, so it builds its event-fed indexer; the simulation then hands that indexer
/// every KV event its workers' pools raise, synchronously, in simulated order.
/// </summary>
internal static class SimRouterSetup
{
    public static (IWorkerRouter Router, Action<KvEvent>? Feed) Create(RouterMode mode, int seed, double? prefillLoadScale, double? temperature, TimeProvider clock)
    {
        var options = new RouterOptions { Mode = mode, Seed = seed, ReplicaSync = false, UseKvEvents = true };
        if (prefillLoadScale is { } scale)
        {
            options.PrefillLoadScale = scale;
        }

        if (temperature is { } t)
        {
            options.Temperature = t;
        }

        IWorkerRouter router = RouterFactory.Create(options, new RouterServices { Time = clock, Events = new SilentEventPlane() });
        Action<KvEvent>? feed = router is KvRouter { Indexer: { } indexer } ? indexer.Apply : null;
        return (router, feed);
    }
}
