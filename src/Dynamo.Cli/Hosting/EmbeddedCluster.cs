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
using Dynamo.Worker;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Hosting;

/// <summary>
/// The whole cluster in one process: in-process discovery, N workers each on its own loopback port with its own
/// engine, and the gateway in front. What <c>dynamo serve</c> runs and what the end-to-end tests start.
/// </summary>
public sealed partial class EmbeddedCluster : IAsyncDisposable
{
    private readonly List<WorkerHost> _workers;
    private readonly GatewayHost _gateway;
    private readonly ILogger _logger;
    private bool _stopped;

    private EmbeddedCluster(GatewayHost gateway, List<WorkerHost> workers, InProcessDiscovery discovery, InProcessEventPlane events, IWorkerRouter router, string modelName, ILogger logger)
    {
        _gateway = gateway;
        _workers = workers;
        Discovery = discovery;
        Events = events;
        Router = router;
        ModelName = modelName;
        _logger = logger;
    }

    public Uri Address => _gateway.Address;

    /// <summary>Where <c>/metrics</c> and <c>/health</c> are served; <see cref="Address"/> unless an admin port is set.</summary>
    public Uri AdminAddress => _gateway.AdminAddress;

    public string ModelName { get; }

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
        if (serve.Mode != "agg")
        {
            throw new ConfigurationException($"Dynamo:Serve:Mode = '{serve.Mode}': only agg is available yet.");
        }

        var modelDir = await ModelResolver.ResolveAsync(serve.Model, serve.Seed, logger, cancellationToken);
        var servedName = serve.ServedModelName ?? (ModelResolver.TryParsePreset(serve.Model, out _) ? serve.Model : Path.GetFileName(modelDir.TrimEnd('/')));
        var card = ModelCard.Load(modelDir, servedName);
        var discovery = new InProcessDiscovery();
        var events = new InProcessEventPlane();
        var router = RouterFactory.Create(settings.Router, new RouterServices { Events = events, Discovery = discovery, LoggerFactory = loggerFactory });
        var workers = new List<WorkerHost>(serve.Workers);
        try
        {
            for (var i = 0; i < serve.Workers; i++)
            {
                var workerOptions = new WorkerOptions { Role = WorkerRole.Aggregated, ServedModelName = card.Name, InstanceId = $"worker-{i}" };
                var kvEvents = new KvEventPublisher(events, loggerFactory.CreateLogger<KvEventPublisher>());
                var engine = EngineFactory.Create(settings, workerOptions.InstanceId, modelDir, card, loggerFactory, kvEvents);
                workers.Add(await WorkerHost.StartAsync(workerOptions, engine, card, discovery, loggerFactory, EngineFactory.EventSourceOf(engine), cancellationToken));
            }

            var models = new ModelCatalog();
            models.Add(card);
            var gateway = await GatewayHost.StartAsync(settings.Gateway, router, discovery, models, loggerFactory, cancellationToken: cancellationToken);
            LogStarted(logger, gateway.Address, card.Name, workers.Count, serve.Engine);
            return new EmbeddedCluster(gateway, workers, discovery, events, router, card.Name, logger);
        }
        catch
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }

            if (router is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }

            throw;
        }
    }

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
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }

        if (Router is IAsyncDisposable router)
        {
            await router.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Gateway on {Address} serving '{Model}' with {Workers} {Engine} workers")]
    private static partial void LogStarted(ILogger logger, Uri address, string model, int workers, string engine);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster stopped")]
    private static partial void LogStopped(ILogger logger);
}
