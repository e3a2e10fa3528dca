using System.Diagnostics;
using System.Text.Json;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Security;
using Dynamo.Runtime.Tests.Contract;
using Dynamo.Runtime.Tests.Infrastructure;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;
using Microsoft.Extensions.Logging;
using NATS.Net;

namespace Dynamo.Runtime.Tests.Nats;

/// <summary>Leases, heartbeats and NATS outages, on a real nats-server with short leases.</summary>
public sealed class NatsDiscoveryTests(NatsServerFixture nats, ITestOutputHelper output) : IClassFixture<NatsServerFixture>
{
    [Fact]
    public async Task HeartbeatsStop_InstanceLeavesWithinItsLease()
    {
        await using var backend = new NatsBackend(nats.Server.Url, TestOutputLoggerProvider.Factory(output));
        var observer = await backend.NewRuntimeAsync();
        long seenAt = 0;
        long removedAt = 0;
        var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        observer.Discovery.Changed += change =>
        {
            if (change.Instance.InstanceId != "crashed")
            {
                return;
            }

            if (change.Kind == DiscoveryChangeKind.Added)
            {
                seenAt = Stopwatch.GetTimestamp();
            }
            else
            {
                removedAt = Stopwatch.GetTimestamp();
                removed.TrySetResult();
            }
        };

        // A registration written the way an owner writes it, whose owner then dies: no delete, no more heartbeats.
        var lease = TimeSpan.FromMilliseconds(1500);
        await using var raw = new NatsConnection(new NatsOpts { Url = nats.Server.Url });
        var store = await raw.CreateKeyValueStoreContext().GetStoreAsync(backend.Options().DiscoveryBucket());
        var record = new DiscoveryRecord(Instance("crashed"), (long)lease.TotalMilliseconds);
        await store.PutAsync("backend.crashed", record.Encode("backend.crashed", backend.Secret));

        await Wait.ForAsync(removed.Task, "the instance to leave", TimeSpan.FromSeconds(5));

        // The observer times the lease from the heartbeat it received (when it saw the instance).
        var gone = Stopwatch.GetElapsedTime(seenAt, removedAt);
        output.WriteLine($"Removed {gone.TotalMilliseconds:F0} ms after its last heartbeat reached the observer (lease {lease.TotalMilliseconds:F0} ms).");
        Assert.InRange(gone, lease - TimeSpan.FromMilliseconds(50), lease + TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Heartbeats_KeepARegistrationBeyondItsLease()
    {
        await using var backend = new NatsBackend(nats.Server.Url, TestOutputLoggerProvider.Factory(output), o =>
        {
            o.LeaseTtl = TimeSpan.FromSeconds(2);
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(250);
        });
        var owner = await backend.NewRuntimeAsync();
        var observer = await backend.NewRuntimeAsync();
        var removals = 0;
        observer.Discovery.Changed += change =>
        {
            if (change.Kind == DiscoveryChangeKind.Removed)
            {
                Interlocked.Increment(ref removals);
            }
        };

        await using var lease = await owner.Discovery.RegisterAsync(Instance("alive"));
        await Wait.UntilAsync(() => observer.Discovery.GetInstances().Count == 1, "the observer to see the instance");
        await Task.Delay(TimeSpan.FromSeconds(3));

        Assert.Equal(0, Volatile.Read(ref removals));
        Assert.Single(observer.Discovery.GetInstances());
    }

    [Fact]
    public async Task DisposingTheRuntime_UnregistersAtOnce()
    {
        await using var backend = new NatsBackend(nats.Server.Url, TestOutputLoggerProvider.Factory(output), o => o.LeaseTtl = TimeSpan.FromSeconds(30));
        var owner = await backend.NewRuntimeAsync();
        var observer = await backend.NewRuntimeAsync();
        await owner.Discovery.RegisterAsync(Instance("leaving"));
        await Wait.UntilAsync(() => observer.Discovery.GetInstances().Count == 1, "the observer to see the instance");

        await owner.DisposeAsync();

        await Wait.UntilAsync(() => observer.Discovery.GetInstances().Count == 0, "the instance to leave well before its 30 s lease", TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task MalformedEntry_IsIgnored_AndTheWatchGoesOn()
    {
        await using var backend = new NatsBackend(nats.Server.Url, TestOutputLoggerProvider.Factory(output));
        var observer = await backend.NewRuntimeAsync();
        var owner = await backend.NewRuntimeAsync();
        await using var raw = new NatsConnection(new NatsOpts { Url = nats.Server.Url });
        var store = await raw.CreateKeyValueStoreContext().GetStoreAsync(backend.Options().DiscoveryBucket());

        await store.PutAsync("backend.garbage", "not json"u8.ToArray());
        await store.PutAsync("backend.empty", "{}"u8.ToArray());
        await using var lease = await owner.Discovery.RegisterAsync(Instance("good"));

        await Wait.UntilAsync(() => observer.Discovery.GetInstances().Any(i => i.InstanceId == "good"), "the good instance");
        Assert.Single(observer.Discovery.GetInstances());
    }

    [Fact]
    public async Task ConnectAsync_NoServer_FailsNamingTheUrlKey()
    {
        var options = new NatsOptions { Url = "nats://127.0.0.1:1", ConnectTimeout = TimeSpan.FromSeconds(1) };

        var error = await Assert.ThrowsAnyAsync<NatsException>(() => NatsRuntime.ConnectAsync(options, TestSecret.Secret, TestOutputLoggerProvider.Factory(output)));

        Assert.Contains("Dynamo:Nats:Url", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// R2 at the runtime level: with the server down for longer than the lease, an observer keeps its view; when the
    /// server returns (without the memory-storage bucket), owners re-register and the observer resynchronizes.
    /// </summary>
    [Fact]
    public async Task ServerRestart_ObserverKeepsLastKnownView_ThenEverythingResumes()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var backend = new NatsBackend(server.Url, TestOutputLoggerProvider.Factory(output), o =>
        {
            o.LeaseTtl = TimeSpan.FromSeconds(2);
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(250);
        });
        var owner = await backend.NewRuntimeAsync();
        var observer = await backend.NewRuntimeAsync();
        await using var lease = await owner.Discovery.RegisterAsync(Instance("survivor"));
        await Wait.UntilAsync(() => observer.Discovery.GetInstances().Count == 1, "the observer to see the instance");
        var removals = 0;
        observer.Discovery.Changed += change =>
        {
            if (change.Kind == DiscoveryChangeKind.Removed)
            {
                Interlocked.Increment(ref removals);
            }
        };

        await server.StopAsync();
        await Wait.UntilAsync(() => !observer.IsConnected && !owner.IsConnected, "both clients to notice the outage");
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Single(observer.Discovery.GetInstances());

        // Counted before the start: the observer can reconnect and resynchronize before StartAsync returns.
        var synchronizations = observer.Discovery.Synchronizations;
        var restarted = Stopwatch.StartNew();
        await server.StartAsync();
        await Wait.UntilAsync(() => observer.Discovery.Synchronizations > synchronizations && observer.Discovery.IsSynchronized, "the observer to resynchronize");
        var resynchronized = restarted.Elapsed;
        await using var late = await owner.Discovery.RegisterAsync(Instance("late"));
        await Wait.UntilAsync(() => observer.Discovery.GetInstances().Any(i => i.InstanceId == "late"), "a registration made after the restart");
        var newcomer = await backend.NewRuntimeAsync();
        await Wait.UntilAsync(() => newcomer.Discovery.GetInstances().Any(i => i.InstanceId == "survivor"), "the survivor re-registered in the new bucket");
        var recovered = restarted.Elapsed;

        // Past one more lease: the survivor's heartbeats keep it.
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        output.WriteLine($"After the restart: resynchronized in {resynchronized.TotalMilliseconds:F0} ms, everything back in {recovered.TotalMilliseconds:F0} ms.");
        Assert.Equal(0, Volatile.Read(ref removals));
        Assert.Contains(observer.Discovery.GetInstances(), i => i.InstanceId == "survivor");
        Assert.True(recovered < TimeSpan.FromSeconds(10), $"recovery took {recovered}");
    }

    /// <summary>
    /// A watch that hangs before delivering the bucket's contents (one started while JetStream is still coming back
    /// can) is abandoned after the stall timeout and started afresh, so the view synchronizes instead of waiting forever.
    /// </summary>
    [Fact]
    public async Task WatchThatHangsBeforeDelivering_IsStartedAfresh_AndTheViewSynchronizes()
    {
        using var loggerFactory = TestOutputLoggerProvider.Factory(output);
        await using var backend = new NatsBackend(nats.Server.Url, loggerFactory);
        var owner = await backend.NewRuntimeAsync();
        await using var lease = await owner.Discovery.RegisterAsync(Instance("present"));

        var options = backend.Options();
        options.ConnectTimeout = TimeSpan.FromSeconds(10);
        await using var connection = new NatsConnection(new NatsOpts { Url = nats.Server.Url });
        await connection.ConnectAsync();
        var counter = new StallCounter(stalls: 2);
        var kv = StallingKv.Wrap(connection.CreateKeyValueStoreContext(), counter);
        var discovery = new NatsDiscovery(
            connection, kv, options, backend.Secret, new SignatureRejections(), TimeProvider.System, loggerFactory.CreateLogger<NatsDiscovery>());
        try
        {
            // Without the stall timeout this waits the whole connect timeout and throws.
            await discovery.StartAsync(CancellationToken.None);

            Assert.Equal(3, counter.Watches);
            Assert.True(discovery.IsSynchronized);
            Assert.Equal(1, discovery.Synchronizations);
            Assert.Contains(discovery.GetInstances(), i => i.InstanceId == "present");
        }
        finally
        {
            await discovery.DisposeAsync();
        }
    }

    private static WorkerInstance Instance(string id) => new()
    {
        InstanceId = id,
        Model = "tiny",
        Role = WorkerRole.Aggregated,
        Address = new Uri("http://127.0.0.1:8100/"),
    };
}
