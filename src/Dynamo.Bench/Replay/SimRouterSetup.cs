using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;
using Dynamo.Router;
using Dynamo.Router.Kv;

namespace Dynamo.Bench.Replay;

/// <summary>
/// Builds the simulation's routers through <see cref="RouterFactory"/>, on the virtual clock. The KV router gets an
/// event plane that delivers nothing, so it builds its event-fed indexer; the simulation then hands that indexer
/// every KV event its workers' pools raise, synchronously, in simulated order, and announces each worker to it as
/// discovery does in a live cluster (so workers have their index slots before their first event, as they would).
/// </summary>
internal static class SimRouterSetup
{
    public static (IWorkerRouter Router, Action<KvEvent>? Feed, Action<WorkerInstance>? Announce) Create(RouterMode mode, int seed, double? prefillLoadScale, double? temperature, TimeProvider clock)
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
        return router is KvRouter { Indexer: { } indexer } ? (router, indexer.Apply, indexer.AddWorker) : (router, null, null);
    }
}
