using Dynamo.Contracts.Routing;
using Dynamo.Router.Load;
using Dynamo.Router.Policies;

namespace Dynamo.Router;

/// <summary>Builds the configured policy.</summary>
public static class RouterFactory
{
    public static IWorkerRouter Create(RouterOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var load = new ActiveLoadTracker(time ?? TimeProvider.System, options.ActiveRequestTtl);
        var random = options.Seed is { } seed ? new Random(seed) : new Random();
        return options.Mode switch
        {
            RouterMode.RoundRobin => new RoundRobinRouter(load),
            RouterMode.Random => new RandomRouter(load, random),
            RouterMode.LeastLoaded => new LeastLoadedRouter(load, random),
            RouterMode.Kv => throw new NotSupportedException(
                "The KV-cache-aware router (--router kv) is not available yet; use round-robin, random or least-loaded."),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Mode, "Unknown router mode."),
        };
    }
}
