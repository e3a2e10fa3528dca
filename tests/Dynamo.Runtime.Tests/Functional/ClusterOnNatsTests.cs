using System.Diagnostics;
using System.Runtime.CompilerServices;
using Dynamo.Contracts.Discovery;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Tests.Infrastructure;
using NATS.Client.Core;

namespace Dynamo.Runtime.Tests.Functional;

/// <summary>A gateway and workers on a real nats-server, each with its own connection, under steady streaming load.</summary>
public sealed class ClusterOnNatsTests(NatsServerFixture nats, ITestOutputHelper output) : IClassFixture<NatsServerFixture>
{
    [Fact]
    public async Task GatewayAndThreeWorkers_WorkersJoinAndLeaveUnderLoad_NoRequestFails()
    {
        using var loggerFactory = TestOutputLoggerProvider.Factory(output, Microsoft.Extensions.Logging.LogLevel.Warning);
        await using var cluster = await NatsTestCluster.StartAsync(nats.Server.Url, loggerFactory);
        var w1 = await cluster.AddWorkerAsync("w1");
        var w2 = await cluster.AddWorkerAsync("w2");
        var w3 = await cluster.AddWorkerAsync("w3");
        var removedFromGateway = new Dictionary<string, int>();
        cluster.GatewayRuntime.Discovery.Changed += change =>
        {
            if (change.Kind == DiscoveryChangeKind.Removed)
            {
                lock (removedFromGateway)
                {
                    removedFromGateway[change.Instance.InstanceId] = cluster.Workers[change.Instance.InstanceId].Requests;
                }
            }
        };

        await using var load = LoadGenerator.Start(cluster.Client);
        await Wait.UntilAsync(() => w1.Requests >= 5 && w2.Requests >= 5 && w3.Requests >= 5, "all three workers to take requests", TimeSpan.FromSeconds(20));

        // Added while load runs: it starts taking requests.
        var joined = Stopwatch.StartNew();
        var w4 = await cluster.AddWorkerAsync("w4");
        await Wait.UntilAsync(() => w4.Requests >= 5, "the added worker to take requests", TimeSpan.FromSeconds(10));
        output.WriteLine($"w4 took its 5th request {joined.ElapsedMilliseconds} ms after it started.");

        // Removed while load runs (a graceful drain, as SIGTERM does): it stops getting requests, nothing fails.
        await cluster.RemoveWorkerAsync("w1");
        await cluster.RemoveWorkerAsync("w2");
        var w1AtStop = w1.Requests;
        var w2AtStop = w2.Requests;
        await load.WaitForMoreAsync(200, "after w1 and w2 left");
        var w3Before = w3.Requests;
        var w4Before = w4.Requests;
        await load.WaitForMoreAsync(100, "on the two workers left");
        await load.StopAsync();

        output.WriteLine($"Requests: {load.Succeeded} succeeded, {load.Failures.Count} failed; w1 {w1.Requests}, w2 {w2.Requests}, w3 {w3.Requests}, w4 {w4.Requests}.");
        Assert.True(load.Failures.Count == 0, string.Join("\n", load.Failures));
        Assert.Equal(["w3", "w4"], cluster.GatewayRuntime.Discovery.GetInstances().Select(i => i.InstanceId));
        Assert.Equal(w1AtStop, w1.Requests);
        Assert.Equal(w2AtStop, w2.Requests);
        lock (removedFromGateway)
        {
            // Once the gateway saw each leave, at most a request already on its way could still reach it.
            Assert.InRange(w1.Requests - removedFromGateway["w1"], 0, 1);
            Assert.InRange(w2.Requests - removedFromGateway["w2"], 0, 1);
        }

        Assert.True(w3.Requests > w3Before && w4.Requests > w4Before, "the remaining workers share the load");
    }

    /// <summary>
    /// R2: nats-server stops for longer than the lease while load runs, then comes back (without its memory buckets).
    /// Serving goes on from the last-known discovery; discovery and events resume after the reconnection.
    /// </summary>
    [Fact]
    public async Task NatsServerStopsAndRestartsUnderLoad_ServingContinues_DiscoveryAndEventsResumeWithin10s()
    {
        using var loggerFactory = TestOutputLoggerProvider.Factory(output, Microsoft.Extensions.Logging.LogLevel.Information);
        await using var server = await NatsServer.StartNewAsync();
        await using var cluster = await NatsTestCluster.StartAsync(server.Url, loggerFactory);
        foreach (var id in new[] { "w1", "w2", "w3" })
        {
            await cluster.AddWorkerAsync(id);
        }

        var removals = 0;
        cluster.GatewayRuntime.Discovery.Changed += change =>
        {
            if (change.Kind == DiscoveryChangeKind.Removed)
            {
                Interlocked.Increment(ref removals);
            }
        };
        using var stop = new CancellationTokenSource();
        var events = new LoadEvents(cluster, stop.Token);
        await Wait.UntilAsync(() => events.Received > 0, "load events to flow");
        await using var load = LoadGenerator.Start(cluster.Client);
        await load.WaitForMoreAsync(50, "before the outage");

        await server.StopAsync();
        await Wait.UntilAsync(() => !cluster.GatewayRuntime.IsConnected, "the gateway to notice the outage");
        var outage = Stopwatch.StartNew();
        while (outage.Elapsed < TimeSpan.FromSeconds(3))
        {
            await load.WaitForMoreAsync(20, "during the outage");
        }

        Assert.Equal(3, cluster.GatewayRuntime.Discovery.GetInstances().Count);
        var synchronizations = cluster.GatewayRuntime.Discovery.Synchronizations;

        var restarted = Stopwatch.StartNew();
        await server.StartAsync();
        var eventsAfterRestart = events.ReceivedAfter(DateTime.UtcNow);
        var reconnected = await Wait.UntilAsync(() => cluster.GatewayRuntime.IsConnected && cluster.Workers.Values.All(w => w.Runtime.IsConnected), "every connection to return");
        await Wait.UntilAsync(() => cluster.GatewayRuntime.Discovery.Synchronizations > synchronizations, "the gateway's discovery to resynchronize", TimeSpan.FromSeconds(10));
        var resynchronized = restarted.Elapsed;
        await Wait.UntilAsync(() => eventsAfterRestart() > 0, "load events published after the restart to arrive", TimeSpan.FromSeconds(10));
        var eventsBack = restarted.Elapsed;
        var w4 = await cluster.AddWorkerAsync("w4");
        await Wait.UntilAsync(() => w4.Requests > 0, "a worker registered after the restart to take requests", TimeSpan.FromSeconds(10));
        var recovered = restarted.Elapsed;

        // One lease later every worker is still there: their heartbeats re-created them in the new bucket.
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        await load.WaitForMoreAsync(50, "after the restart");
        await load.StopAsync();
        await stop.CancelAsync();
        await events.StopAsync();

        output.WriteLine(
            $"After nats-server restarted: connections back in {reconnected.TotalMilliseconds:F0} ms, discovery resynchronized in {resynchronized.TotalMilliseconds:F0} ms, " +
            $"events flowing in {eventsBack.TotalMilliseconds:F0} ms, a new worker serving in {recovered.TotalMilliseconds:F0} ms. " +
            $"Requests: {load.Succeeded} succeeded, {load.Failures.Count} failed; spurious removals {removals}.");
        Assert.True(load.Failures.Count == 0, string.Join("\n", load.Failures));
        Assert.Equal(0, Volatile.Read(ref removals));
        Assert.Equal(["w1", "w2", "w3", "w4"], cluster.GatewayRuntime.Discovery.GetInstances().Select(i => i.InstanceId));
        Assert.True(recovered < TimeSpan.FromSeconds(10), $"recovery took {recovered}");
    }

    public sealed record LoadReport(string Worker, long Seq, int Running);

    /// <summary>Each worker publishes its load every 100 ms on the event plane; the gateway's runtime subscribes.</summary>
    private sealed class LoadEvents
    {
        private readonly List<Task> _tasks = [];
        private readonly List<(DateTime At, StrongBox<int> Count)> _watches = [];
        private int _received;

        public LoadEvents(NatsTestCluster cluster, CancellationToken stop)
        {
            _tasks.Add(Task.Run(async () =>
            {
                try
                {
                    await foreach (var report in cluster.GatewayRuntime.Events.SubscribeAsync<LoadReport>(EventSubjects.LoadMetrics, stop))
                    {
                        Interlocked.Increment(ref _received);
                        lock (_watches)
                        {
                            foreach (var (at, count) in _watches)
                            {
                                if (new DateTime(report.Seq, DateTimeKind.Utc) > at)
                                {
                                    count.Value++;
                                }
                            }
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                }
            }));
            foreach (var worker in cluster.Workers.Values)
            {
                _tasks.Add(Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
                        timeout.CancelAfter(TimeSpan.FromMilliseconds(500));
                        try
                        {
                            await worker.Runtime.Events.PublishAsync(EventSubjects.LoadMetrics, new LoadReport(worker.Id, DateTime.UtcNow.Ticks, worker.Host.InflightRequests), timeout.Token);
                            await Task.Delay(100, stop);
                        }
                        catch (Exception ex) when (ex is OperationCanceledException or NatsException)
                        {
                            // Down with the server; publishing resumes when it is back.
                        }
                    }
                }));
            }
        }

        public int Received => Volatile.Read(ref _received);

        /// <summary>Counts, from now on, the reports received that were published after <paramref name="at"/>.</summary>
        public Func<int> ReceivedAfter(DateTime at)
        {
            var count = new StrongBox<int>();
            lock (_watches)
            {
                _watches.Add((at, count));
            }

            return () =>
            {
                lock (_watches)
                {
                    return count.Value;
                }
            };
        }

        public Task StopAsync() => Task.WhenAll(_tasks);
    }
}
