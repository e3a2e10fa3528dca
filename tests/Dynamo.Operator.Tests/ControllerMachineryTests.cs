using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Dynamo.DevCluster;
using Dynamo.Operator.Client;
using Dynamo.Operator.Controller;
using Dynamo.Operator.Tests.Infrastructure;
using Dynamo.Runtime.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Dynamo.Operator.Tests;

/// <summary>Informers and leader election against the one-machine API server.</summary>
public sealed class ControllerMachineryTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static JsonObject ConfigMap(string name) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "ConfigMap",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "default" },
        ["data"] = new JsonObject { ["k"] = name },
    };

    [Fact]
    public async Task Informer_WhoseVersionIsCompactedAway_RelistsAndReportsWhatWentMissing()
    {
        FaultHandler? faults = null;
        await using var cluster = await OperatorTestCluster.StartAsync(output, new DevApiServerOptions { WatchHistory = 5 }, inner => faults = new FaultHandler(inner));
        var api = cluster.Api;
        await api.CreateAsync(KubeResource.ConfigMaps, "default", ConfigMap("first"));
        var events = new ConcurrentQueue<(string Type, string Name)>();
        var informer = new Informer(api, KubeResource.ConfigMaps, "default", null, (type, obj) => events.Enqueue((type, obj["metadata"]!["name"]!.GetValue<string>())),
            cluster.Loggers.CreateLogger<Informer>()) { WatchTimeoutSeconds = 1 };
        using var stop = new CancellationTokenSource();
        var run = informer.RunAsync(stop.Token);
        await informer.Synced.WaitAsync(Timeout);
        Assert.Contains(events, e => e == ("ADDED", "first"));

        // Hold the next watch request (the current one ends within a second) while the history moves on.
        faults!.HoldWatches();
        await Wait.UntilAsync(() => faults.HeldWatches >= 1, "the informer's next watch to be held", Timeout);
        for (var i = 0; i < 12; i++)
        {
            await api.CreateAsync(KubeResource.ConfigMaps, "default", ConfigMap($"cm-{i}"));
        }

        await api.DeleteAsync(KubeResource.ConfigMaps, "default", "first");
        faults.ReleaseWatches();

        await Wait.UntilAsync(() => informer.Lists >= 2, "a relist after 410 Gone", Timeout);
        await Wait.UntilAsync(() => informer.Items.Count == 12 && informer.Get("default", "first") is null, "the cache to hold the 12 new objects and not the deleted one", Timeout);
        Assert.Contains(events, e => e == ("DELETED", "first"));
        Assert.Contains(events, e => e == ("ADDED", "cm-11"));

        // After the relist the watch resumes: a change shows up as an event.
        await api.CreateAsync(KubeResource.ConfigMaps, "default", ConfigMap("after"));
        await Wait.UntilAsync(() => events.Contains(("ADDED", "after")), "the watch to resume after the relist", Timeout);
        await stop.CancelAsync();
        await run.WaitAsync(Timeout);
    }

    [Fact]
    public async Task TwoOperators_OneActs_TheOtherTakesOverWhenTheLeaseExpires()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        LeaderElectionOptions Election(string id) => new()
        {
            Identity = id,
            LeaseDuration = TimeSpan.FromSeconds(3),
            RenewDeadline = TimeSpan.FromSeconds(2),
            RetryPeriod = TimeSpan.FromMilliseconds(250),
            // A crash, not a clean stop: the Lease is left to expire.
            ReleaseOnStop = false,
        };
        using var apiA = cluster.NewClient();
        using var apiB = cluster.NewClient();
        var a = new OperatorHost(apiA, new OperatorHostOptions { Namespace = "default", LeaderElection = Election("operator-a") }, cluster.Loggers);
        var b = new OperatorHost(apiB, new OperatorHostOptions { Namespace = "default", LeaderElection = Election("operator-b") }, cluster.Loggers);
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var runA = a.RunAsync(stopA.Token);
        await Wait.UntilAsync(() => a.Elector.IsLeader, "operator-a to lead", Timeout);
        var runB = b.RunAsync(stopB.Token);

        await cluster.ApplyGraphAsync(TestGraphs.AggPath);
        await Wait.UntilAsync(async () => await cluster.Api.GetAsync(KubeResource.Deployments, "default", "agg-worker") is not null, () => "the leader to reconcile agg", Timeout);
        // Several renew periods pass: the standby never acts.
        for (var i = 0; i < 8; i++)
        {
            Assert.False(b.Elector.IsLeader, "both operators lead");
            Assert.Null(b.Controller);
            await Task.Delay(250);
        }

        var lease = await cluster.Api.GetAsync(KubeResource.Leases, "default", "dynamo-operator");
        Assert.Equal("operator-a", lease!["spec"]!["holderIdentity"]!.GetValue<string>());

        // operator-a dies without handing the Lease back; operator-b takes over once it expires.
        await stopA.CancelAsync();
        await runA.WaitAsync(Timeout);
        var took = await Wait.UntilAsync(() => b.Elector.IsLeader, "operator-b to take over", Timeout);
        output.WriteLine($"operator-b took over after {took.TotalSeconds:F1} s");
        lease = await cluster.Api.GetAsync(KubeResource.Leases, "default", "dynamo-operator");
        Assert.Equal("operator-b", lease!["spec"]!["holderIdentity"]!.GetValue<string>());
        Assert.Equal(1, lease["spec"]!["leaseTransitions"]!.GetValue<int>());

        await cluster.ApplyGraphAsync(TestGraphs.DisaggPath);
        await Wait.UntilAsync(async () => await cluster.Api.GetAsync(KubeResource.Deployments, "default", "disagg-decode") is not null, () => "the new leader to reconcile disagg", Timeout);
        await stopB.CancelAsync();
        await runB.WaitAsync(Timeout);
    }

    [Fact]
    public async Task LeaderStoppingCleanly_ReleasesTheLease_SoTheStandbyTakesOverAtOnce()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        LeaderElectionOptions Election(string id) => new()
        {
            Identity = id,
            LeaseDuration = TimeSpan.FromSeconds(30),
            RenewDeadline = TimeSpan.FromSeconds(20),
            RetryPeriod = TimeSpan.FromMilliseconds(200),
        };
        using var apiA = cluster.NewClient();
        using var apiB = cluster.NewClient();
        var a = new LeaderElector(apiA, Election("a"), cluster.Loggers.CreateLogger<LeaderElector>());
        var b = new LeaderElector(apiB, Election("b"), cluster.Loggers.CreateLogger<LeaderElector>());
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var runA = a.RunAsync(token => Task.Delay(System.Threading.Timeout.Infinite, token), stopA.Token);
        await Wait.UntilAsync(() => a.IsLeader, "a to lead", Timeout);
        var runB = b.RunAsync(token => Task.Delay(System.Threading.Timeout.Infinite, token), stopB.Token);
        await Task.Delay(500);
        Assert.False(b.IsLeader);

        await stopA.CancelAsync();
        await runA.WaitAsync(Timeout);
        // Well before the 30 s lease would expire.
        await Wait.UntilAsync(() => b.IsLeader, "b to take the released Lease", TimeSpan.FromSeconds(10));
        await stopB.CancelAsync();
        await runB.WaitAsync(Timeout);
    }
}
