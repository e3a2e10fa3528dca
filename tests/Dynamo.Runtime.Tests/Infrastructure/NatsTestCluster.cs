using Dynamo.Contracts;
using Dynamo.Engine.Mocker;
using Dynamo.Gateway;
using Dynamo.Gateway.Models;
using Dynamo.Llm;
using Dynamo.Router;
using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Security;
using Dynamo.Worker;
using Microsoft.Extensions.Logging;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>
/// A gateway and mocker workers as hosts in the test process, each with its own NATS connection as if it were its
/// own process, all on one real nats-server and one fresh namespace. Workers come and go while the gateway runs.
/// </summary>
internal sealed class NatsTestCluster : IAsyncDisposable
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly Func<NatsOptions> _options;
    private readonly ModelCard _card;
    private readonly Dictionary<string, TestWorkerProcess> _workers = new(StringComparer.Ordinal);

    private NatsTestCluster(ILoggerFactory loggerFactory, Func<NatsOptions> options, ModelCard card, NatsRuntime gatewayRuntime, GatewayHost gateway)
    {
        _loggerFactory = loggerFactory;
        _options = options;
        _card = card;
        GatewayRuntime = gatewayRuntime;
        Gateway = gateway;
        Client = new HttpClient { BaseAddress = gateway.Address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public NatsRuntime GatewayRuntime { get; }

    /// <summary>The NATS options every member uses (the namespace, and so the bucket names, among them).</summary>
    public NatsOptions Options => _options();

    /// <summary>The secret the gateway and the workers share; a worker started with another one is not a member.</summary>
    public static ClusterSecret Secret => TestSecret.Secret;

    public GatewayHost Gateway { get; }

    public HttpClient Client { get; }

    public IReadOnlyDictionary<string, TestWorkerProcess> Workers => _workers;

    public static async Task<NatsTestCluster> StartAsync(string natsUrl, ILoggerFactory loggerFactory, Action<NatsOptions>? configure = null)
    {
        var @namespace = "t" + Guid.NewGuid().ToString("N")[..10];
        NatsOptions Options()
        {
            var options = new NatsOptions
            {
                Url = natsUrl,
                Namespace = @namespace,
                LeaseTtl = TimeSpan.FromSeconds(2),
                HeartbeatInterval = TimeSpan.FromMilliseconds(500),
            };
            configure?.Invoke(options);
            return options;
        }

        var card = await TestModel.CardAsync();
        var runtime = await NatsRuntime.ConnectAsync(Options(), Secret, loggerFactory);
        var models = new ModelCatalog();
        models.Add(card);
        var router = RouterFactory.Create(new RouterOptions { Mode = RouterMode.RoundRobin });
        var gateway = await GatewayHost.StartAsync(new GatewayOptions { Port = 0 }, router, runtime.Discovery, models, Secret, loggerFactory);
        return new NatsTestCluster(loggerFactory, Options, card, runtime, gateway);
    }

    /// <summary>Starts a worker with its own NATS connection and registers it; returns once the gateway sees it.</summary>
    public async Task<TestWorkerProcess> AddWorkerAsync(string id)
    {
        var runtime = await NatsRuntime.ConnectAsync(_options(), Secret, _loggerFactory);
        var engine = new CountingEngine(new MockerEngine(
            new MockerOptions
            {
                ModelName = _card.Name,
                WorkerId = id,
                VocabSize = _card.VocabSize,
                EosTokenIds = [.. _card.EosTokenIds],
                MaxContextLength = _card.MaxContextLength,
                TotalKvBlocks = 1024,
                SpeedupFactor = 5,
            },
            null,
            null,
            null));
        var host = await WorkerHost.StartAsync(
            new WorkerOptions { InstanceId = id, ServedModelName = _card.Name, DrainTimeout = TimeSpan.FromSeconds(10) },
            engine,
            _card,
            runtime.Discovery,
            Secret,
            _loggerFactory);
        var worker = new TestWorkerProcess(id, runtime, engine, host);
        _workers.Add(id, worker);
        await Wait.UntilAsync(() => GatewayRuntime.Discovery.GetInstances().Any(i => i.InstanceId == id), $"the gateway to see {id}");
        return worker;
    }

    /// <summary>Drains and stops a worker as SIGTERM would: it leaves discovery, finishes in-flight work, then stops.</summary>
    public async Task RemoveWorkerAsync(string id)
    {
        await _workers[id].StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Gateway.DisposeAsync();
        foreach (var worker in _workers.Values)
        {
            await worker.DisposeAsync();
        }

        await GatewayRuntime.DisposeAsync();
    }
}

/// <summary>One worker "process": its NATS runtime, engine and host.</summary>
internal sealed class TestWorkerProcess(string id, NatsRuntime runtime, CountingEngine engine, WorkerHost host) : IAsyncDisposable
{
    private int _disposed;

    public string Id => id;

    public NatsRuntime Runtime => runtime;

    public WorkerHost Host => host;

    /// <summary>Requests this worker's engine was given.</summary>
    public int Requests => engine.Requests;

    public Task StopAsync() => host.StopAsync();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await host.DisposeAsync();
        await engine.DisposeAsync();
        await runtime.DisposeAsync();
    }
}
