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
    private readonly Members _members;
    private readonly WorkerFactory _factory;
    private readonly GatewayHost _gateway;
    private readonly ILogger _logger;
    private bool _stopped;

    private EmbeddedCluster(GatewayHost gateway, Members members, WorkerFactory factory, InProcessDiscovery discovery, InProcessEventPlane events, IWorkerRouter router, string modelName, ClusterSecret clusterSecret, ILogger logger)
    {
        _gateway = gateway;
        _members = members;
        _factory = factory;
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

    /// <summary>Where the KServe v2 gRPC frontend listens; null unless <c>Dynamo:Gateway:GrpcPort</c> is set.</summary>
    public Uri? GrpcAddress => _gateway.GrpcAddress;

    public string ModelName { get; }

    /// <summary>The warm-up pass run before the gateway and the workers started (<c>Dynamo:Serve:WarmUp</c>); null when off or failed.</summary>
    public WarmUpReport? WarmUp { get; private init; }

    /// <summary>The secret the workers require of every request: the configured one, or one generated for this run.</summary>
    public ClusterSecret ClusterSecret { get; }

    public InProcessDiscovery Discovery { get; }

    /// <summary>Where workers publish KV events and router replicas share load.</summary>
    public InProcessEventPlane Events { get; }

    /// <summary>The gateway's router (a <see cref="Router.Kv.KvRouter"/> with <c>--router kv</c>).</summary>
    public IWorkerRouter Router { get; }

    /// <summary>The workers serving now (those being drained by <see cref="DrainWorkerAsync"/> have left).</summary>
    public IReadOnlyList<WorkerHost> Workers => _members.Hosts;

    /// <summary>The gateway's traffic counters, read in process (what <c>serve --planner</c> observes).</summary>
    public Runtime.Observability.TrafficTotals Traffic() => _gateway.Traffic();

    /// <summary>Serves <paramref name="registry"/>'s metrics on the gateway's <c>/metrics</c> after its own.</summary>
    public void ExportMetrics(Prometheus.CollectorRegistry registry) => _gateway.ExportMetrics(registry);

    /// <summary>
    /// Starts one more worker of <paramref name="role"/> (with its engine and, in disagg mode, its transfer agent) and
    /// registers it in discovery; the gateway routes to it from then on.
    /// </summary>
    public async Task<WorkerHost> AddWorkerAsync(WorkerRole role, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_stopped, this);
        var member = await _factory.StartAsync(role, cancellationToken);
        _members.Add(member);
        LogWorkerAdded(_logger, member.Host.Instance.InstanceId, member.Host.Address);
        return member.Host;
    }

    /// <summary>
    /// Scale-down without losing a request: the worker leaves discovery (the router stops choosing it), finishes its
    /// streams (up to its drain timeout), then stops; its engine and transfer agent go after a grace period, so a decode
    /// still reading KV a prefill worker handed over finishes its read.
    /// </summary>
    public async Task DrainWorkerAsync(WorkerHost worker, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var member = _members.Remove(worker) ?? throw new ArgumentException($"Worker '{worker.Instance.InstanceId}' is not serving in this cluster.", nameof(worker));
        LogWorkerDraining(_logger, worker.Instance.InstanceId, worker.InflightRequests);
        await member.StopAsync(cancellationToken);
        _members.Retire(member);
        LogWorkerDrained(_logger, worker.Instance.InstanceId);
    }

    public static async Task<EmbeddedCluster> StartAsync(ClusterSettings settings, ILoggerFactory loggerFactory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var logger = loggerFactory.CreateLogger<EmbeddedCluster>();
        var serve = settings.Serve;
        var modelDir = await ModelResolver.ResolveAsync(serve.Model, serve.Seed, logger, cancellationToken);
        var servedName = serve.ServedModelName ?? (ModelResolver.TryParsePreset(serve.Model, out _) ? serve.Model : Path.GetFileName(modelDir.TrimEnd('/')));
        var card = ModelCard.Load(modelDir, servedName, serve.ToolCallParser);
        var discovery = new InProcessDiscovery();
        var events = new InProcessEventPlane();
        // One process, no setup: the workers and the gateway share a secret made for this run unless one is configured.
        var secret = settings.ClusterSecret ?? ClusterSecret.Generate();
        var router = RouterFactory.Create(settings.Router, new RouterServices { Events = events, Discovery = discovery, LoggerFactory = loggerFactory, ClusterSecret = secret });
        var factory = new WorkerFactory(settings, modelDir, card, discovery, events, new InProcessMetadataStore(), secret, loggerFactory);
        var members = new Members();
        var pools = serve.Mode == "disagg"
            ? new[] { (Role: WorkerRole.Prefill, Count: serve.PrefillWorkers), (Role: WorkerRole.Decode, Count: serve.DecodeWorkers) }
            : [(Role: WorkerRole.Aggregated, Count: serve.Workers)];
        var prepared = new List<Prepared>();
        try
        {
            foreach (var (role, count) in pools)
            {
                for (var i = 0; i < count; i++)
                {
                    prepared.Add(await factory.PrepareAsync(role, cancellationToken));
                }
            }

            // Before any host the world can reach is up: nothing reports ready until the serving path is compiled.
            WarmUpReport? warmUp = null;
            if (serve.WarmUp)
            {
                try
                {
                    warmUp = await Hosting.WarmUp.ClusterAsync(settings, card, [.. prepared.Select(p => (p.Options.Role, p.Options.InstanceId, p.Engine))], secret, logger, cancellationToken);
                }
                catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    Hosting.WarmUp.Failed(logger, error);
                }
            }

            while (prepared.Count > 0)
            {
                var next = prepared[0];
                prepared.RemoveAt(0);
                members.Add(await factory.ServeAsync(next, cancellationToken));
            }

            var models = new ModelCatalog();
            models.Add(card);
            var gateway = await GatewayHost.StartAsync(settings.Gateway, router, discovery, models, secret, loggerFactory, cancellationToken: cancellationToken);
            LogStarted(logger, gateway.Address, card.Name, Describe(serve), serve.Engine);
            return new EmbeddedCluster(gateway, members, factory, discovery, events, router, card.Name, secret, logger) { WarmUp = warmUp };
        }
        catch
        {
            foreach (var unserved in prepared)
            {
                await unserved.DisposeAsync();
            }

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
        await Task.WhenAll(_members.Hosts.Select(w => w.StopAsync(deadline.Token)));
        LogStopped(_logger);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(5));
        await _gateway.DisposeAsync();
        await _members.DisposeAsync();
        if (Router is IAsyncDisposable router)
        {
            await router.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Gateway on {Address} serving '{Model}' with {Workers} {Engine} workers")]
    private static partial void LogStarted(ILogger logger, Uri address, string model, string workers, string engine);

    /// <summary>Starts workers of each role the same way: engine, transfer agent (disagg), host, load reports.</summary>
    private sealed class WorkerFactory(
        ClusterSettings settings, string modelDir, ModelCard card, InProcessDiscovery discovery, InProcessEventPlane events,
        InProcessMetadataStore metadata, ClusterSecret secret, ILoggerFactory loggerFactory)
    {
        private readonly Dictionary<WorkerRole, int> _next = [];

        public async Task<Member> StartAsync(WorkerRole role, CancellationToken cancellationToken) =>
            await ServeAsync(await PrepareAsync(role, cancellationToken), cancellationToken);

        /// <summary>The engine and, in disagg mode, its transfer agent: what a worker serves, before anything serves it.</summary>
        public async Task<Prepared> PrepareAsync(WorkerRole role, CancellationToken cancellationToken)
        {
            int index;
            lock (_next)
            {
                index = _next.GetValueOrDefault(role);
                _next[role] = index + 1;
            }

            var name = role switch { WorkerRole.Prefill => "prefill", WorkerRole.Decode => "decode", _ => "worker" };
            var workerOptions = new WorkerOptions { Role = role, ServedModelName = card.Name, InstanceId = $"{name}-{index}" };
            var kvEvents = new KvEventPublisher(events, loggerFactory.CreateLogger<KvEventPublisher>());
            var engine = EngineFactory.Create(settings, workerOptions.InstanceId, modelDir, card, loggerFactory, kvEvents);
            try
            {
                var transfer = await KvTransferHosting.AttachAsync(engine, role, workerOptions.InstanceId, settings, metadata, "inprocess", secret, loggerFactory, cancellationToken);
                return new Prepared(workerOptions, engine, transfer);
            }
            catch
            {
                await engine.DisposeAsync();
                throw;
            }
        }

        /// <summary>Starts the worker's host in discovery and its load reports; on failure disposes what was prepared.</summary>
        public async Task<Member> ServeAsync(Prepared prepared, CancellationToken cancellationToken)
        {
            try
            {
                var host = await WorkerHost.StartAsync(prepared.Options, prepared.Engine, card, discovery, secret, loggerFactory, EngineFactory.EventSourceOf(prepared.Engine), cancellationToken);

                // Load reports on the in-process plane, as worker processes publish them on NATS: the planner reads them.
                var reports = LoadReportPublisher.Start(events, prepared.Engine, host.Instance, prepared.Options.LoadReportInterval, TimeProvider.System, loggerFactory.CreateLogger<LoadReportPublisher>());
                return new Member(host, prepared.Engine, prepared.Transfer, reports);
            }
            catch
            {
                await prepared.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>A worker's engine and transfer agent, not yet served (the warm-up runs over these).</summary>
    private sealed record Prepared(WorkerOptions Options, IEngine Engine, KvTransferHosting? Transfer) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Engine.DisposeAsync();
            if (Transfer is not null)
            {
                await Transfer.DisposeAsync();
            }
        }
    }

    /// <summary>One worker and what it owns, disposed in dependency order: server, load reports, engine, then the agent it reads through.</summary>
    private sealed record Member(WorkerHost Host, IEngine Engine, KvTransferHosting? Transfer, LoadReportPublisher Reports)
    {
        /// <summary>Leaves discovery, drains, stops serving (<see cref="WorkerHost.StopAsync"/>).</summary>
        public Task StopAsync(CancellationToken cancellationToken) => Host.StopAsync(cancellationToken);

        public async ValueTask DisposeServerAsync()
        {
            await Host.DisposeAsync();
            await Reports.DisposeAsync();
        }

        public async ValueTask DisposeTransferAsync()
        {
            if (Transfer is not null)
            {
                await Transfer.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The serving workers, and those drained at run time whose engines wait out <see cref="RetireGrace"/> (a decode may
    /// still be reading KV a drained prefill worker handed over). Disposal: every server, then every engine and agent.
    /// </summary>
    private sealed class Members : IAsyncDisposable
    {
        private static readonly TimeSpan RetireGrace = TimeSpan.FromSeconds(10);
        private readonly Lock _lock = new();
        private readonly List<Member> _serving = [];
        private readonly List<(Member Member, Task Grace)> _retired = [];
        private readonly CancellationTokenSource _closing = new();

        public IReadOnlyList<WorkerHost> Hosts
        {
            get
            {
                lock (_lock)
                {
                    return [.. _serving.Select(m => m.Host)];
                }
            }
        }

        public void Add(Member member)
        {
            lock (_lock)
            {
                _serving.Add(member);
            }
        }

        public Member? Remove(WorkerHost host)
        {
            lock (_lock)
            {
                var member = _serving.FirstOrDefault(m => ReferenceEquals(m.Host, host));
                if (member is not null)
                {
                    _serving.Remove(member);
                }

                return member;
            }
        }

        /// <summary>A drained member: its server goes now, its engine and agent after the grace period.</summary>
        public void Retire(Member member)
        {
            var grace = RetireAsync(member);
            lock (_lock)
            {
                _retired.Add((member, grace));
            }
        }

        public async ValueTask DisposeAsync()
        {
            List<Member> serving;
            List<(Member Member, Task Grace)> retired;
            lock (_lock)
            {
                serving = [.. _serving];
                retired = [.. _retired];
                _serving.Clear();
                _retired.Clear();
            }

            // The whole cluster is going: retired engines need not wait out their grace any more.
            await _closing.CancelAsync();
            await Task.WhenAll(retired.Select(r => r.Grace));
            foreach (var member in serving)
            {
                await member.DisposeServerAsync();
            }

            foreach (var member in serving)
            {
                await member.Engine.DisposeAsync();
            }

            foreach (var member in serving)
            {
                await member.DisposeTransferAsync();
            }

            _closing.Dispose();
        }

        private async Task RetireAsync(Member member)
        {
            await member.DisposeServerAsync();
            try
            {
                await Task.Delay(RetireGrace, _closing.Token);
            }
            catch (OperationCanceledException)
            {
            }

            await member.Engine.DisposeAsync();
            await member.DisposeTransferAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {InstanceId} added at {Address}")]
    private static partial void LogWorkerAdded(ILogger logger, string instanceId, Uri address);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {InstanceId} leaving: out of discovery, draining {Inflight} in-flight requests")]
    private static partial void LogWorkerDraining(ILogger logger, string instanceId, int inflight);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {InstanceId} drained and stopped")]
    private static partial void LogWorkerDrained(ILogger logger, string instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster stopped")]
    private static partial void LogStopped(ILogger logger);
}
