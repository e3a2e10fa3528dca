using Dynamo.Cli.Configuration;
using Dynamo.Contracts;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.Routing;
using Dynamo.Gateway;
using Dynamo.Gateway.Models;
using Dynamo.Llm;
using Dynamo.Router;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Metadata;
using Dynamo.Runtime.Security;
using Dynamo.Worker;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Hosting;

/// <summary>
/// The whole cluster in one process: in-process discovery, workers each on its own loopback port with its own
/// engine (aggregated, or prefill and decode pools whose engines move KV through in-process transfer agents), and
/// the gateway in front. What <c>dynamo serve</c> runs and what the end-to-end tests start.
/// </summary>
public sealed partial class EmbeddedCluster : IAsyncDisposable
{
    private readonly List<WorkerHost> _workers;
    private readonly List<IEngine> _engines;
    private readonly List<KvTransferHosting> _transfers;
    private readonly GatewayHost _gateway;
    private readonly ILogger _logger;
    private bool _stopped;

    private EmbeddedCluster(GatewayHost gateway, Members members, InProcessDiscovery discovery, InProcessEventPlane events, IWorkerRouter router, string modelName, ClusterSecret clusterSecret, ILogger logger)
    {
        _gateway = gateway;
        _workers = members.Workers;
        _engines = members.Engines;
        _transfers = members.Transfers;
        Discovery = discovery;
        Events = events;
        Router = router;
        ModelName = modelName;
        ClusterSecret = clusterSecret;
        _logger = logger;
    }

    public Uri Address => _gateway.Address;

    /// <summary>Where <c>/metrics</c> and <c>/health</c> are served; <see cref="Address"/> unless an admin port is set.</summary>
    public Uri AdminAddress => _gateway.AdminAddress;

    public string ModelName { get; }

    /// <summary>The secret the workers require of every request: the configured one, or one generated for this run.</summary>
    public ClusterSecret ClusterSecret { get; }

    public InProcessDiscovery Discovery { get; }

    /// <summary>Where workers publish KV events and router replicas share load.</summary>
    public InProcessEventPlane Events { get; }

    /// <summary>The gateway's router (a <see cref="Router.Kv.KvRouter"/> with <c>--router kv</c>).</summary>
    public IWorkerRouter Router { get; }

    public IReadOnlyList<WorkerHost> Workers => _workers;

    public static async Task<EmbeddedCluster> StartAsync(ClusterSettings settings, ILoggerFactory loggerFactory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var logger = loggerFactory.CreateLogger<EmbeddedCluster>();
        var serve = settings.Serve;
        var modelDir = await ModelResolver.ResolveAsync(serve.Model, serve.Seed, logger, cancellationToken);
        var servedName = serve.ServedModelName ?? (ModelResolver.TryParsePreset(serve.Model, out _) ? serve.Model : Path.GetFileName(modelDir.TrimEnd('/')));
        var card = ModelCard.Load(modelDir, servedName);
        var discovery = new InProcessDiscovery();
        var events = new InProcessEventPlane();
        // One process, no setup: the workers and the gateway share a secret made for this run unless one is configured.
        var secret = settings.ClusterSecret ?? ClusterSecret.Generate();
        var router = RouterFactory.Create(settings.Router, new RouterServices { Events = events, Discovery = discovery, LoggerFactory = loggerFactory, ClusterSecret = secret });
        var metadata = new InProcessMetadataStore();
        var members = new Members();
        var pools = serve.Mode == "disagg"
            ? new[] { (Role: WorkerRole.Prefill, Name: "prefill", Count: serve.PrefillWorkers), (Role: WorkerRole.Decode, Name: "decode", Count: serve.DecodeWorkers) }
            : [(Role: WorkerRole.Aggregated, Name: "worker", Count: serve.Workers)];
        try
        {
            foreach (var (role, name, count) in pools)
            {
                for (var i = 0; i < count; i++)
                {
                    var workerOptions = new WorkerOptions { Role = role, ServedModelName = card.Name, InstanceId = $"{name}-{i}" };
                    var kvEvents = new KvEventPublisher(events, loggerFactory.CreateLogger<KvEventPublisher>());
                    var engine = EngineFactory.Create(settings, workerOptions.InstanceId, modelDir, card, loggerFactory, kvEvents);
                    members.Engines.Add(engine);
                    if (await KvTransferHosting.AttachAsync(engine, role, workerOptions.InstanceId, settings, metadata, "inprocess", secret, loggerFactory, cancellationToken) is { } transfer)
                    {
                        members.Transfers.Add(transfer);
                    }

                    members.Workers.Add(await WorkerHost.StartAsync(workerOptions, engine, card, discovery, secret, loggerFactory, EngineFactory.EventSourceOf(engine), cancellationToken));
                }
            }

            var models = new ModelCatalog();
            models.Add(card);
            var gateway = await GatewayHost.StartAsync(settings.Gateway, router, discovery, models, secret, loggerFactory, cancellationToken: cancellationToken);
            LogStarted(logger, gateway.Address, card.Name, Describe(serve), serve.Engine);
            return new EmbeddedCluster(gateway, members, discovery, events, router, card.Name, secret, logger);
        }
        catch
        {
            await members.DisposeAsync();
            if (router is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }

            throw;
        }
    }

    private static string Describe(ServeOptions serve) => serve.Mode == "disagg"
        ? $"{serve.PrefillWorkers} prefill + {serve.DecodeWorkers} decode"
        : $"{serve.Workers} aggregated";

    /// <summary>Stops taking requests, lets in-flight ones finish (up to <paramref name="timeout"/>), then stops workers.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        using var deadline = new CancellationTokenSource(timeout);
        await _gateway.StopAsync(deadline.Token);
        await Task.WhenAll(_workers.Select(w => w.StopAsync(deadline.Token)));
        LogStopped(_logger);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(5));
        await _gateway.DisposeAsync();
        await new Members(_workers, _engines, _transfers).DisposeAsync();
        if (Router is IAsyncDisposable router)
        {
            await router.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Gateway on {Address} serving '{Model}' with {Workers} {Engine} workers")]
    private static partial void LogStarted(ILogger logger, Uri address, string model, string workers, string engine);

    /// <summary>What the cluster started, disposed in dependency order: servers, then engines, then the agents they read through.</summary>
    private sealed record Members(List<WorkerHost> Workers, List<IEngine> Engines, List<KvTransferHosting> Transfers) : IAsyncDisposable
    {
        public Members()
            : this([], [], [])
        {
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var worker in Workers)
            {
                await worker.DisposeAsync();
            }

            foreach (var engine in Engines)
            {
                await engine.DisposeAsync();
            }

            foreach (var transfer in Transfers)
            {
                await transfer.DisposeAsync();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster stopped")]
    private static partial void LogStopped(ILogger logger);
}
