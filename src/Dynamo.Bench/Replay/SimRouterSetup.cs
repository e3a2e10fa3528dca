using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;
using Dynamo.Router;

namespace Dynamo.Bench.Replay;

/// <summary>
/// Builds the simulation's routers through <see cref="RouterFactory"/>, on the virtual clock. Until the KV router
/// lands, its options (prefill load scale, temperature) and KV-event feed are not wired; the KV-router version of
/// this file hands the router's indexer every KV event the simulated pools raise.
/// </summary>
internal static class SimRouterSetup
{
    public static (IWorkerRouter Router, Action<KvEvent>? Feed) Create(RouterMode mode, int seed, double? prefillLoadScale, double? temperature, TimeProvider clock)
    {
        _ = prefillLoadScale;
        _ = temperature;
        IWorkerRouter router = RouterFactory.Create(new RouterOptions { Mode = mode, Seed = seed }, clock);
        return (router, null);
    }
}
