using System.Threading.Channels;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Engine;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Tests.Contract;
using Dynamo.Runtime.Tests.Infrastructure;
using Dynamo.Worker;

namespace Dynamo.Runtime.Tests.Functional;

/// <summary>
/// A worker's <see cref="LoadReportPublisher"/> on a real nats-server that stops and comes back: the reports built
/// during the outage are dropped (never counted as published, never delivered late), and publishing resumes by itself.
/// </summary>
public sealed class LoadReportsOnNatsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    [Fact]
    public async Task NatsServerDown_ReportsAreDroppedNotQueued_AndResumeAfterRestart()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var backend = new NatsBackend(server.Url, TestOutputLoggerProvider.Factory(output));

        // The subscriber reconnects at once; the publisher only after 2 s. Anything the publisher's client held back
        // during the outage would go out the moment it reconnects, ahead of newer reports, where the subscriber sees it.
        var subscriber = await backend.NewRuntimeAsync(o => (o.ReconnectWaitMin, o.ReconnectWaitMax) = (TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(50)));
        var publisherRuntime = await backend.NewRuntimeAsync(o => (o.ReconnectWaitMin, o.ReconnectWaitMax) = (TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2)));
        using var stop = new CancellationTokenSource();
        var received = Channel.CreateUnbounded<int>();
        var subscription = Task.Run(async () =>
        {
            try
            {
                await foreach (var report in subscriber.Events.SubscribeAsync<WorkerLoadReport>(EventSubjects.LoadMetrics, stop.Token))
                {
                    received.Writer.TryWrite(report.Load.RunningRequests);
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        // Each report carries its sequence number (the engine counts the loads it was asked for).
        var engine = new CountingLoadEngine();
        var instance = new WorkerInstance { InstanceId = "w-load", Model = "m", Role = WorkerRole.Aggregated, Address = new Uri("http://127.0.0.1:1/") };
        await using var publisher = LoadReportPublisher.Start(publisherRuntime.Events, engine, instance, Interval);
        var lastBefore = await NextAsync(received, "a report before the outage");

        await server.StopAsync();
        await Wait.UntilAsync(() => !publisherRuntime.IsConnected && !subscriber.IsConnected, "both clients to see the outage");
        var publishedAtOutage = publisher.Published;
        var builtAtOutage = engine.Calls;
        await Wait.UntilAsync(() => engine.Calls >= builtAtOutage + 5, "five reports built during the outage");
        Assert.Equal(publishedAtOutage, publisher.Published);

        await server.StartAsync();
        var builtAtRestart = engine.Calls;
        await Wait.UntilAsync(() => subscriber.IsConnected, "the subscriber to reconnect");
        await Wait.UntilAsync(() => publisherRuntime.IsConnected, "the publisher to reconnect", TimeSpan.FromSeconds(15));

        // What the client had taken before it saw the connection drop may still arrive (it resends its buffer); a
        // report built after that must not: each gets one interval to go out, then gives way to the next.
        var seen = new List<int>();
        do
        {
            seen.Add(await NextAsync(received, "a report built after the restart", TimeSpan.FromSeconds(15)));
        }
        while (seen[^1] <= builtAtRestart);

        output.WriteLine($"last report before the outage #{lastBefore}, built during it #{builtAtOutage + 1}..#{builtAtRestart}, received after it: {string.Join(", ", seen)}");
        Assert.DoesNotContain(seen, n => n > builtAtOutage && n <= builtAtRestart);
        Assert.True(publisher.Published > publishedAtOutage, "publishing resumed");

        await stop.CancelAsync();
        await Wait.ForAsync(subscription, "the subscription to end");
    }

    private static async Task<int> NextAsync(Channel<int> received, string what, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            return await received.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"Timed out waiting for {what}.");
            throw;
        }
    }

    private sealed class CountingLoadEngine : IEngine
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public EngineInfo Info => throw new NotSupportedException();

        public IAsyncEnumerable<EngineOutput> GenerateAsync(EngineRequest request, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public EngineLoad GetLoad() => new() { RunningRequests = Interlocked.Increment(ref _calls), KvBlocksTotal = 1 };

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
