using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;
using Dynamo.Engine.Mocker.Profiles;
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
    /// <param name="profile">The pool's workers' profile (its step times price the predicted cost); default the replay's.</param>
    public static (IWorkerRouter Router, Action<KvEvent>? Feed, Action<WorkerInstance>? Announce) Create(RouterMode mode, ReplayOptions replay, TimeProvider clock, PerformanceProfile? profile = null)
    {
        // The simulated workers publish no load reports, so the busy thresholds are off here (replay has no flags for them).
        var options = new RouterOptions
        {
            Mode = mode,
            Seed = replay.Seed,
            ReplicaSync = false,
            UseKvEvents = true,
            Timing = TimingOf(profile ?? replay.Profile),
            BusyKvUsage = 0,
            BusyWaitingRequests = 0,
        };
        if (replay.PrefillLoadScale is { } scale)
        {
            options.PrefillLoadScale = scale;
        }

        if (replay.Temperature is { } t)
        {
            options.Temperature = t;
        }

        if (replay.KvCost is { } cost && RouterOptions.TryParseCost(cost, out var model))
        {
            options.Cost = model;
        }

        if (replay.BalanceAbsoluteThreshold is { } absolute)
        {
            options.BalanceAbsoluteThreshold = absolute;
        }

        if (replay.BalanceRelativeThreshold is { } relative)
        {
            options.BalanceRelativeThreshold = relative;
        }

        if (replay.BusyCostMs is { } busy)
        {
            options.BusyCostMs = busy;
        }

        if (replay.BusyCostTokens is { } busyTokens)
        {
            options.BusyCostTokens = busyTokens;
        }

        if (replay.BusyFloor is { } floor)
        {
            options.BusyFloor = floor;
        }

        if (replay.BusyWindowS is { } window)
        {
            options.BusyWindow = TimeSpan.FromSeconds(window);
        }

        if (replay.DecodeImpactWeight is { } weight)
        {
            options.DecodeImpactWeight = weight;
        }

        IWorkerRouter router = RouterFactory.Create(options, new RouterServices { Time = clock, Events = new SilentEventPlane() });
        return router is KvRouter { Indexer: { } indexer } ? (router, indexer.Apply, indexer.AddWorker) : (router, null, null);
    }

    /// <summary>
    /// The predicted router cost is timed by the simulated engine's own model, as a deployment sets
    /// <c>Dynamo:Router:Timing</c> from <c>dynamo profile</c>'s figures for its engine.
    /// </summary>
    internal static RouterTiming TimingOf(PerformanceProfile profile) => new()
    {
        StepBaseMs = profile.Performance.PrefillBaseMs,
        PrefillPerTokenMs = profile.Performance.PrefillPerTokenMs,
        PrefillAttentionMs = profile.Performance.PrefillQuadraticMs,
        DecodePerSequenceMs = profile.Performance.DecodePerSeqMs,
        DecodePerKvTokenMs = profile.Performance.DecodePerKvTokenMs,
        MaxBatchedTokens = profile.MaxNumBatchedTokens,
    };
}
