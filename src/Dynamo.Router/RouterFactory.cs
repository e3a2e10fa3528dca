using Dynamo.Contracts.Routing;
using Dynamo.Router.Indexing;
using Dynamo.Router.Kv;
using Dynamo.Router.Load;
using Dynamo.Router.Policies;
using Dynamo.Router.Replicas;
using Dynamo.Router.Sessions;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Router;

/// <summary>Builds the configured policy.</summary>
public static class RouterFactory
{
    /// <summary>A router with no event plane: the KV router runs in approximate mode.</summary>
    public static IWorkerRouter Create(RouterOptions options, TimeProvider? time = null) => Create(options, new RouterServices { Time = time });

    /// <summary>
    /// The configured router. A <see cref="KvRouter"/> starts its background work here (event subscription, dumps of
    /// the workers discovery knows, replica sync); dispose it (it is <see cref="IAsyncDisposable"/>) to stop them.
    /// </summary>
    public static IWorkerRouter Create(RouterOptions options, RouterServices services)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        if (options.Mode == RouterMode.Kv)
        {
            return CreateKv(options, services);
        }

        ThrowIfInvalid(options);
        var time = services.Time ?? TimeProvider.System;
        var load = new ActiveLoadTracker(time, options.ActiveRequestTtl, options.BusyWindow);
        var random = options.Seed is { } seed ? new Random(seed) : new Random();
        var sessions = new SessionAffinity(options, time);
        var busy = BusyWorkers.Start(options, services.Events, time, services.LoggerFactory);
        return options.Mode switch
        {
            RouterMode.RoundRobin => new RoundRobinRouter(load, sessions, busy),
            RouterMode.Random => new RandomRouter(load, random, sessions, busy),
            RouterMode.LeastLoaded => new LeastLoadedRouter(load, random, sessions, busy),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Mode, "Unknown router mode."),
        };
    }

    /// <summary>The KV router whatever <see cref="RouterOptions.Mode"/> says.</summary>
    public static KvRouter CreateKv(RouterOptions options, RouterServices services)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        var load = new ActiveLoadTracker(services.Time ?? TimeProvider.System, options.ActiveRequestTtl, options.BusyWindow);
        var random = options.Seed is { } seed ? new Random(seed) : new Random();
        return CreateKv(options, services, load, random);
    }

    private static void ThrowIfInvalid(RouterOptions options)
    {
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, errors), nameof(options));
        }
    }

    private static KvRouter CreateKv(RouterOptions options, RouterServices services, ActiveLoadTracker load, Random random)
    {
        ThrowIfInvalid(options);

        var time = services.Time ?? TimeProvider.System;
        var loggers = services.LoggerFactory ?? NullLoggerFactory.Instance;
        var index = new PrefixIndex();
        KvIndexer? indexer = null;
        ApproximateIndex? approximate = null;
        HttpClient? http = null;
        if (options.UseKvEvents && services.Events is not null)
        {
            // Repair (replay, dump) needs worker addresses, so it comes with discovery; without it streams are followed as they come.
            var control = services.Discovery is null
                ? null
                : services.KvEventControl ?? new HttpKvEventControl(http = new HttpClient(new ClusterCredentialHandler(
                    services.ClusterSecret ?? throw new ArgumentException(
                        "RouterServices.ClusterSecret is required: the KV router's replay and dump calls to workers must carry the cluster credential.", nameof(services)),
                    new SocketsHttpHandler { UseProxy = false },
                    time))
                {
                    Timeout = TimeSpan.FromSeconds(30),
                });
            indexer = new KvIndexer(index, control, new KvIndexerOptions(), time, loggers.CreateLogger<KvIndexer>());
            indexer.Start(services.Events, EventSubjects.KvEvents, services.Discovery);
        }
        else
        {
            approximate = new ApproximateIndex(index, options.ApproximateTtl, time);
        }

        ActiveLoadSync? sync = null;
        if (options.ReplicaSync && services.Events is not null)
        {
            sync = new ActiveLoadSync(services.Events, ActiveLoadSync.Subject, load, services.ReplicaId, loggers.CreateLogger<ActiveLoadSync>());
            sync.Start();
        }

        var busy = BusyWorkers.Start(options, services.Events, time, loggers);
        return new KvRouter(options, index, load, indexer, approximate, sync, random, http, new SessionAffinity(options, time), busy);
    }
}
