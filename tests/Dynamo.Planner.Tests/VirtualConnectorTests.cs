using Dynamo.Contracts;
using Dynamo.Planner.Connectors;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Security;
using Dynamo.Runtime.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Planner.Tests;

/// <summary>
/// The virtual connector against an "outside system" on another NATS connection, over a real nats-server: targets go
/// out signed, the system acknowledges them with its pool counts, and what a stranger publishes is not believed.
/// </summary>
public sealed class VirtualConnectorTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private NatsServer _nats = null!;

    public async Task InitializeAsync() => _nats = await NatsServer.StartNewAsync();

    public async Task DisposeAsync() => await _nats.DisposeAsync();

    [Fact]
    public async Task Targets_RoundTripThroughAnOutsideSystemThatAcknowledgesThem()
    {
        await using var planner = await ConnectAsync(TestSecret.Secret);
        await using var outside = await ConnectAsync(TestSecret.Secret);
        await using var connector = VirtualConnector.Start(planner.Events, statusTimeout: TimeSpan.FromSeconds(30));

        // No status yet: the pools are unknown and the planner would hold.
        var unknown = await Assert.ThrowsAsync<InvalidOperationException>(() => connector.GetPoolsAsync(CancellationToken.None));
        Assert.Contains(EventSubjects.PlannerStatus, unknown.Message);

        await using var system = new OutsideSystem(outside.Events, new() { ["prefill"] = 1, ["decode"] = 1 });

        var pools = await UntilAsync(async () => await TryGetPoolsAsync(connector), p => p is { Count: 2 });
        Assert.Equal([new PoolState(WorkerRole.Prefill, 1, 1, 1), new PoolState(WorkerRole.Decode, 1, 1, 1)], pools!.OrderBy(p => p.Role));

        await connector.SetTargetsAsync(new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Decode] = 3 }, "throughput: test"), CancellationToken.None);
        var sent = connector.LastSent!;
        Assert.Equal(new Dictionary<string, int> { ["prefill"] = 1, ["decode"] = 3 }, sent.Targets);

        // Until the system applies it, desired is what was asked; then its counts come back with the acknowledgement.
        var applied = await UntilAsync(async () => await TryGetPoolsAsync(connector), p => p?.Single(x => x.Role == WorkerRole.Decode) is { Actual: 3, Ready: 3 });
        Assert.Equal(new PoolState(WorkerRole.Decode, 3, 3, 3), applied!.Single(p => p.Role == WorkerRole.Decode));
        Assert.Equal(sent.Sequence, system.Applied);
        Assert.Equal("throughput: test", system.LastReason);
    }

    [Fact]
    public async Task TargetsNotAcknowledged_ArePublishedAgainUntilTheSystemCatchesUp()
    {
        await using var planner = await ConnectAsync(TestSecret.Secret);
        await using var outside = await ConnectAsync(TestSecret.Secret);
        await using var connector = VirtualConnector.Start(planner.Events, statusTimeout: TimeSpan.FromSeconds(30));
        await using var system = new OutsideSystem(outside.Events, new() { ["worker"] = 0, ["aggregated"] = 2 }) { Deaf = true };
        await UntilAsync(async () => await TryGetPoolsAsync(connector), p => p is { Count: 1 });

        await connector.SetTargetsAsync(new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Aggregated] = 4 }, "load"), CancellationToken.None);
        var waiting = await connector.GetPoolsAsync(CancellationToken.None);
        Assert.Equal(new PoolState(WorkerRole.Aggregated, 4, 2, 2), Assert.Single(waiting));

        // The system was not listening when the targets went out; the next reads publish them again.
        system.Deaf = false;
        var caughtUp = await UntilAsync(async () => await TryGetPoolsAsync(connector), p => p?.Single() is { Actual: 4 });
        Assert.Equal(new PoolState(WorkerRole.Aggregated, 4, 4, 4), caughtUp!.Single());
    }

    [Fact]
    public async Task StatusSignedWithAnotherSecret_IsDropped()
    {
        await using var planner = await ConnectAsync(TestSecret.Secret);
        await using var stranger = await ConnectAsync(ClusterSecret.Generate());
        await using var connector = VirtualConnector.Start(planner.Events, statusTimeout: TimeSpan.FromSeconds(30));
        var forged = new PlannerStatusMessage(long.MaxValue, [new PoolStatusMessage("decode", 50, 50, 50)], DateTimeOffset.UtcNow);

        await UntilAsync(async () =>
        {
            await stranger.Events.PublishAsync(EventSubjects.PlannerStatus, forged);
            await Task.Delay(50);
            return planner.Rejections.Snapshot().Sum(r => r.Count);
        }, rejected => rejected > 0);

        await Assert.ThrowsAsync<InvalidOperationException>(() => connector.GetPoolsAsync(CancellationToken.None));
    }

    private async Task<NatsRuntime> ConnectAsync(ClusterSecret secret) =>
        await NatsRuntime.ConnectAsync(new NatsOptions { Url = _nats.Url }, secret, NullLoggerFactory.Instance);

    private static async Task<IReadOnlyList<PoolState>?> TryGetPoolsAsync(VirtualConnector connector)
    {
        try
        {
            return await connector.GetPoolsAsync(CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            Assert.True(DateTime.UtcNow < deadline, $"not reached within {Timeout.TotalSeconds} s; last value: {value}");
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// A system that runs workers for the planner: applies the newest targets at once (every worker ready) and
    /// publishes its status every 100 ms with the sequence it applied.
    /// </summary>
    private sealed class OutsideSystem : IAsyncDisposable
    {
        private readonly IEventPlane _events;
        private readonly Dictionary<string, int> _pools;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _listen;
        private readonly Task _report;

        public OutsideSystem(IEventPlane events, Dictionary<string, int> pools)
        {
            _events = events;
            _pools = pools;
            _listen = ListenAsync(_stop.Token);
            _report = ReportAsync(_stop.Token);
        }

        public bool Deaf { get; set; }

        public long Applied { get; private set; }

        public string? LastReason { get; private set; }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_listen, _report).ContinueWith(_ => { }, TaskScheduler.Default);
            _stop.Dispose();
        }

        private async Task ListenAsync(CancellationToken cancellationToken)
        {
            await foreach (var targets in _events.SubscribeAsync<PlannerTargetsMessage>(EventSubjects.PlannerTargets, cancellationToken))
            {
                if (Deaf || targets.Sequence <= Applied)
                {
                    continue;
                }

                lock (_pools)
                {
                    foreach (var (pool, count) in targets.Targets)
                    {
                        _pools[pool] = count;
                    }

                    Applied = targets.Sequence;
                    LastReason = targets.Reason;
                }
            }
        }

        private async Task ReportAsync(CancellationToken cancellationToken)
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                PlannerStatusMessage status;
                lock (_pools)
                {
                    status = new PlannerStatusMessage(Applied, [.. _pools.Select(p => new PoolStatusMessage(p.Key, p.Value, p.Value, p.Value))], DateTimeOffset.UtcNow);
                }

                await _events.PublishAsync(EventSubjects.PlannerStatus, status, cancellationToken);
                await Task.Delay(100, cancellationToken);
            }
        }
    }
}
