using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Tests.Infrastructure;

namespace Dynamo.Runtime.Tests.Contract;

/// <summary>
/// What every implementation of discovery, the event plane and the metadata store promises, run against each
/// (<see cref="InProcessRuntimeContractTests"/>, <see cref="NatsRuntimeContractTests"/>). Views of the backend stand
/// for separate processes; what one view writes, the others see within the timeout.
/// </summary>
public abstract class RuntimeContractTests : IAsyncLifetime
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(5);
    private IRuntimeBackend? _backend;

    protected IRuntimeBackend Backend => _backend!;

    public async Task InitializeAsync() => _backend = await CreateBackendAsync();

    public async Task DisposeAsync()
    {
        if (_backend is not null)
        {
            await _backend.DisposeAsync();
        }
    }

    [Fact]
    public async Task Register_VisibleToOwnerAtOnce_AndToOtherProcessesSoon()
    {
        var owner = await Backend.NewDiscoveryAsync();
        var observer = await Backend.NewDiscoveryAsync();
        var added = new TaskCompletionSource<WorkerInstance>(TaskCreationOptions.RunContinuationsAsynchronously);
        observer.Changed += change =>
        {
            if (change.Kind == DiscoveryChangeKind.Added)
            {
                added.TrySetResult(change.Instance);
            }
        };
        var instance = Instance("w-a");

        await using var lease = await owner.RegisterAsync(instance);

        Assert.Contains(instance, owner.GetInstances());
        Assert.Equal(instance, await Wait.ForAsync(added.Task, "the observer's Added event", Soon));
        Assert.Contains(instance, observer.GetInstances());
    }

    [Fact]
    public async Task DisposeLease_RemovesInstanceEverywhere_WithRemovedEvent()
    {
        var owner = await Backend.NewDiscoveryAsync();
        var observer = await Backend.NewDiscoveryAsync();
        var instance = Instance("w-b");
        var lease = await owner.RegisterAsync(instance);
        await Wait.UntilAsync(() => observer.GetInstances().Contains(instance), "the observer to see the instance", Soon);
        var removed = new TaskCompletionSource<WorkerInstance>(TaskCreationOptions.RunContinuationsAsynchronously);
        observer.Changed += change =>
        {
            if (change.Kind == DiscoveryChangeKind.Removed)
            {
                removed.TrySetResult(change.Instance);
            }
        };

        await lease.DisposeAsync();
        await lease.DisposeAsync();

        Assert.DoesNotContain(owner.GetInstances(), i => i.InstanceId == "w-b");
        Assert.Equal(instance, await Wait.ForAsync(removed.Task, "the observer's Removed event", Soon));
        Assert.DoesNotContain(observer.GetInstances(), i => i.InstanceId == "w-b");
    }

    [Fact]
    public async Task Register_SameIdTwice_Throws_AndSucceedsAgainAfterRelease()
    {
        var first = await Backend.NewDiscoveryAsync();
        var second = await Backend.NewDiscoveryAsync();
        var lease = await first.RegisterAsync(Instance("w-c"));

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await first.RegisterAsync(Instance("w-c")));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await second.RegisterAsync(Instance("w-c", port: 9)));

        await lease.DisposeAsync();
        await using var again = await second.RegisterAsync(Instance("w-c", port: 9));
        Assert.Contains(second.GetInstances(), i => i.InstanceId == "w-c" && i.Address.Port == 9);
    }

    [Fact]
    public async Task GetInstances_ListsEveryRegistration_OrderedById()
    {
        var owners = new[] { await Backend.NewDiscoveryAsync(), await Backend.NewDiscoveryAsync() };
        var observer = await Backend.NewDiscoveryAsync();
        var leases = new List<IAsyncDisposable>();
        foreach (var (id, i) in new[] { "w-3", "w-1", "w-2" }.Select((id, i) => (id, i)))
        {
            leases.Add(await owners[i % 2].RegisterAsync(Instance(id)));
        }

        await Wait.UntilAsync(() => observer.GetInstances().Count == 3, "three instances", Soon);
        Assert.Equal(["w-1", "w-2", "w-3"], observer.GetInstances().Select(i => i.InstanceId));
        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }

        await Wait.UntilAsync(() => observer.GetInstances().Count == 0, "every instance to leave", Soon);
    }

    [Fact]
    public async Task Register_KeepsEveryFieldOfTheInstance()
    {
        var owner = await Backend.NewDiscoveryAsync();
        var observer = await Backend.NewDiscoveryAsync();
        var instance = Instance("w-d") with
        {
            Role = WorkerRole.Decode,
            Namespace = "dynamo",
            Component = "decode",
            BlockSize = 32,
            TotalKvBlocks = 4096,
            MaxContextLength = 8192,
        };

        await using var lease = await owner.RegisterAsync(instance);

        await Wait.UntilAsync(() => observer.GetInstances().Count == 1, "the instance", Soon);
        Assert.Equal(instance, observer.GetInstances()[0]);
    }

    [Fact]
    public async Task Publish_ReachesEverySubscriber_InOrder()
    {
        var publisher = await Backend.NewEventPlaneAsync();
        await using var first = await Subscription.StartAsync(await Backend.NewEventPlaneAsync(), publisher, "kv_events.w1");
        await using var second = await Subscription.StartAsync(await Backend.NewEventPlaneAsync(), publisher, "kv_events.w1");

        for (var i = 0; i < 20; i++)
        {
            await publisher.PublishAsync("kv_events.w1", new TestEvent("w1", i, [i, i + 1]));
        }

        foreach (var subscription in new[] { first, second })
        {
            var received = await subscription.TakeAsync(20);
            Assert.Equal(Enumerable.Range(0, 20), received.Select(e => e.Payload.Seq));
            Assert.Equal(new TestEvent("w1", 7, [7, 8]).Blocks, received[7].Payload.Blocks);
            Assert.All(received, e => Assert.Equal("kv_events.w1", e.Subject));
        }
    }

    [Fact]
    public async Task Subscriber_GetsOnlyItsOwnSubject()
    {
        var publisher = await Backend.NewEventPlaneAsync();
        await using var mine = await Subscription.StartAsync(await Backend.NewEventPlaneAsync(), publisher, "load_metrics.a");

        await publisher.PublishAsync("load_metrics.b", new TestEvent("b", 1, []));
        await publisher.PublishAsync("load_metrics", new TestEvent("none", 2, []));
        await publisher.PublishAsync("load_metrics.a", new TestEvent("a", 3, []));

        var received = await mine.TakeAsync(1);
        Assert.Equal("a", received[0].Payload.Worker);
        Assert.True(mine.IsEmpty);
    }

    [Fact]
    public async Task Publish_CarriesThePublishersTraceContext()
    {
        var publisher = await Backend.NewEventPlaneAsync();
        await using var subscription = await Subscription.StartAsync(await Backend.NewEventPlaneAsync(), publisher, "transfer.t");
        using var activity = new Activity("publish").SetIdFormat(ActivityIdFormat.W3C).Start();
        activity.TraceStateString = "vendor=1";

        await publisher.PublishAsync("transfer.t", new TestEvent("t", 1, []));
        activity.Stop();

        var received = (await subscription.TakeAsync(1))[0];
        Assert.Equal(activity.TraceId, received.Parent.TraceId);
        Assert.Equal(activity.SpanId, received.Parent.SpanId);
    }

    [Fact]
    public async Task Subjects_WithWildcardsSpacesOrEmptyTokens_AreRefused()
    {
        var plane = await Backend.NewEventPlaneAsync();
        foreach (var subject in new[] { "", "a..b", "a.*", "a.>", "has space", ".a", "a." })
        {
            await Assert.ThrowsAnyAsync<ArgumentException>(async () => await plane.PublishAsync(subject, new TestEvent("x", 0, [])));
            await Assert.ThrowsAnyAsync<ArgumentException>(async () =>
            {
                await foreach (var unused in plane.SubscribeAsync<TestEvent>(subject))
                {
                }
            });
        }
    }

    [Fact]
    public async Task KvEvents_ArriveWithEveryField()
    {
        var publisher = await Backend.NewEventPlaneAsync();
        var subscriber = await Backend.NewEventPlaneAsync();
        var received = System.Threading.Channels.Channel.CreateUnbounded<Contracts.KvEvents.KvEvent>();
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in subscriber.SubscribeAsync<Contracts.KvEvents.KvEvent>("kv_events.contract", stop.Token))
                {
                    await received.Writer.WriteAsync(e);
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        var cleared = new Contracts.KvEvents.KvEvent("w1", 0, Contracts.KvEvents.StorageTier.Device, new Contracts.KvEvents.KvCleared());
        var clock = Stopwatch.StartNew();
        while (!received.Reader.TryPeek(out _))
        {
            Assert.True(clock.Elapsed < Soon, "the subscription did not go live");
            await publisher.PublishAsync("kv_events.contract", cleared);
            await Task.Delay(10);
        }

        await publisher.PublishAsync("kv_events.contract", new Contracts.KvEvents.KvEvent(
            "w1", 7, Contracts.KvEvents.StorageTier.Host, new Contracts.KvEvents.KvStored(42, [new(1, 2), new(ulong.MaxValue, 3)])));
        await publisher.PublishAsync("kv_events.contract", new Contracts.KvEvents.KvEvent(
            "w1", 8, Contracts.KvEvents.StorageTier.Device, new Contracts.KvEvents.KvRemoved([1, ulong.MaxValue])));

        using var timeout = new CancellationTokenSource(Soon);
        Contracts.KvEvents.KvEvent next;
        do
        {
            next = await received.Reader.ReadAsync(timeout.Token);
        }
        while (next.EventId == 0);
        var stored = Assert.IsType<Contracts.KvEvents.KvStored>(next.Data);
        Assert.Equal(("w1", 7L, Contracts.KvEvents.StorageTier.Host, (ulong?)42UL), (next.WorkerId, next.EventId, next.Tier, stored.ParentHash));
        Assert.Equal([new(1, 2), new(ulong.MaxValue, 3)], stored.Blocks);
        var removed = await received.Reader.ReadAsync(timeout.Token);
        Assert.Equal([1UL, ulong.MaxValue], Assert.IsType<Contracts.KvEvents.KvRemoved>(removed.Data).SeqHashes);
        await stop.CancelAsync();
        await reader;
    }

    [Fact]
    public async Task Publish_WithNoSubscriber_Succeeds()
    {
        var plane = await Backend.NewEventPlaneAsync();

        await plane.PublishAsync("kv_events.nobody", new TestEvent("x", 0, []));
    }

    [Fact]
    public async Task Metadata_PutGetDelete_RoundTrips()
    {
        var writer = await Backend.NewMetadataStoreAsync();
        var reader = await Backend.NewMetadataStoreAsync();

        Assert.Null(await reader.GetAsync("worker-1.nixl"));
        await writer.PutAsync("worker-1.nixl", new byte[] { 1, 2, 3 });
        Assert.Equal(new byte[] { 1, 2, 3 }, await reader.GetAsync("worker-1.nixl"));
        await writer.PutAsync("worker-1.nixl", new byte[] { 9 });
        Assert.Equal(new byte[] { 9 }, await reader.GetAsync("worker-1.nixl"));
        await writer.PutAsync("worker-1.empty", ReadOnlyMemory<byte>.Empty);
        Assert.Equal(Array.Empty<byte>(), await reader.GetAsync("worker-1.empty"));
        await writer.DeleteAsync("worker-1.nixl");
        await writer.DeleteAsync("worker-1.never");
        Assert.Null(await reader.GetAsync("worker-1.nixl"));
    }

    [Fact]
    public async Task Metadata_BadKeys_AreRefused()
    {
        var store = await Backend.NewMetadataStoreAsync();
        foreach (var key in new[] { "", "a b", "a..b", "a*", "a>" })
        {
            await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.PutAsync(key, new byte[] { 1 }));
        }
    }

    protected abstract Task<IRuntimeBackend> CreateBackendAsync();

    private static WorkerInstance Instance(string id, int port = 8100) => new()
    {
        InstanceId = id,
        Model = "tiny",
        Role = WorkerRole.Aggregated,
        Address = new Uri($"http://127.0.0.1:{port}/"),
        TotalKvBlocks = 1024,
        MaxContextLength = 2048,
    };

    public sealed record TestEvent(string Worker, int Seq, int[] Blocks);

    /// <summary>
    /// A subscriber reading into a queue. It counts as live once a probe it is sent comes back: a NATS subscription
    /// reaches the server a moment after the enumeration starts, and messages before that are not delivered.
    /// </summary>
    private sealed class Subscription : IAsyncDisposable
    {
        private readonly Channel<EventMessage<TestEvent>> _received = Channel.CreateUnbounded<EventMessage<TestEvent>>();
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentBag<int> _probes = [];
        private Task _reader = Task.CompletedTask;

        public bool IsEmpty => _received.Reader.Count == 0;

        public static async Task<Subscription> StartAsync(IEventPlane plane, IEventPlane publisher, string subject)
        {
            var subscription = new Subscription();
            subscription._reader = Task.Run(async () =>
            {
                try
                {
                    await foreach (var message in plane.SubscribeMessagesAsync<TestEvent>(subject, subscription._stop.Token))
                    {
                        if (message.Payload.Worker == "probe")
                        {
                            subscription._probes.Add(message.Payload.Seq);
                            continue;
                        }

                        await subscription._received.Writer.WriteAsync(message);
                    }
                }
                catch (OperationCanceledException)
                {
                }
            });
            var clock = Stopwatch.StartNew();
            for (var i = 0; subscription._probes.IsEmpty; i++)
            {
                if (clock.Elapsed > Soon)
                {
                    Assert.Fail($"The subscription to {subject} did not go live.");
                }

                await publisher.PublishAsync(subject, new TestEvent("probe", i, []));
                await Task.Delay(10);
            }

            return subscription;
        }

        public async Task<List<EventMessage<TestEvent>>> TakeAsync(int count)
        {
            var list = new List<EventMessage<TestEvent>>(count);
            using var timeout = new CancellationTokenSource(Soon);
            while (list.Count < count)
            {
                try
                {
                    list.Add(await _received.Reader.ReadAsync(timeout.Token));
                }
                catch (OperationCanceledException)
                {
                    Assert.Fail($"Received {list.Count} of {count} messages.");
                }
            }

            return list;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _reader;
            _stop.Dispose();
        }
    }
}
