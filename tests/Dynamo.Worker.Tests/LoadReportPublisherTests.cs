using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Engine;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Worker.Tests;

public sealed class LoadReportPublisherTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static readonly WorkerInstance Instance = new()
    {
        InstanceId = "w-load",
        Model = "test-model",
        Role = WorkerRole.Aggregated,
        Address = new Uri("http://127.0.0.1:1/"),
    };

    [Fact]
    public async Task Start_PublishesTheEngineLoadAtOnceAndEveryInterval()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-30T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var plane = new InProcessEventPlane();
        var engine = new FixedLoadEngine { Load = new EngineLoad { RunningRequests = 3, WaitingRequests = 2, KvBlocksUsed = 25, KvBlocksTotal = 100 } };
        await using var reports = plane.SubscribeAsync<WorkerLoadReport>(EventSubjects.LoadMetrics).GetAsyncEnumerator();
        var first = reports.MoveNextAsync().AsTask();

        await using var publisher = LoadReportPublisher.Start(plane, engine, Instance, Interval, time);

        Assert.True(await first.WaitAsync(Timeout), "the first report, published at start");
        var report = reports.Current;
        Assert.Equal(("w-load", "test-model", WorkerRole.Aggregated, time.GetUtcNow()), (report.WorkerId, report.Model, report.Role, report.Timestamp));
        Assert.Equal((3, 2, 0.25), (report.Load.RunningRequests, report.Load.WaitingRequests, report.Load.KvUsage));

        engine.Load = new EngineLoad { RunningRequests = 1, KvBlocksUsed = 10, KvBlocksTotal = 100 };
        var second = reports.MoveNextAsync().AsTask();
        Assert.False(second.IsCompleted, "no second report before the interval has passed");
        time.Advance(Interval);
        Assert.True(await second.WaitAsync(Timeout), "the second report, one interval later");
        Assert.Equal((1, 0, 0.1), (reports.Current.Load.RunningRequests, reports.Current.Load.WaitingRequests, reports.Current.Load.KvUsage));
    }

    [Fact]
    public async Task PlaneDown_ReportsAreDroppedNotQueued_AndResumeWhenItIsBack()
    {
        var time = new FakeTimeProvider();
        var plane = new SwitchablePlane();
        await using var publisher = LoadReportPublisher.Start(plane, new FixedLoadEngine(), Instance, Interval, time);
        await WaitForAsync(() => publisher.Published == 1, "the first report");

        plane.Down = true;
        time.Advance(Interval);
        await WaitForAsync(() => plane.Refused == 1, "a report refused while the plane is down");
        time.Advance(Interval);
        await WaitForAsync(() => plane.Refused == 2, "the next report tried, one interval later");

        plane.Down = false;
        time.Advance(Interval);
        await WaitForAsync(() => publisher.Published == 2, "a report after the plane came back");
        Assert.Equal(2, plane.Delivered);
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Timeout, $"Timed out waiting for {what}.");
            await Task.Delay(5);
        }
    }

    private sealed class FixedLoadEngine : IEngine
    {
        public EngineLoad Load { get; set; } = new();

        public EngineInfo Info => throw new NotSupportedException();

        public IAsyncEnumerable<EngineOutput> GenerateAsync(EngineRequest request, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public EngineLoad GetLoad() => Load;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>An event plane that refuses every publish while <see cref="Down"/>, as NATS does while disconnected.</summary>
    private sealed class SwitchablePlane : IEventPlane
    {
        private int _refused;
        private int _delivered;
        private volatile bool _down;

        public bool Down
        {
            get => _down;
            set => _down = value;
        }

        public int Refused => Volatile.Read(ref _refused);

        public int Delivered => Volatile.Read(ref _delivered);

        public ValueTask PublishAsync<T>(string subject, T message, CancellationToken cancellationToken = default)
        {
            if (Down)
            {
                Interlocked.Increment(ref _refused);
                return ValueTask.FromException(new InvalidOperationException("the plane is down"));
            }

            Interlocked.Increment(ref _delivered);
            return ValueTask.CompletedTask;
        }

        public IAsyncEnumerable<T> SubscribeAsync<T>(string subject, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
