using System.Text.Json.Nodes;
using Dynamo.Contracts;
using Dynamo.Operator.Client;
using Dynamo.Operator.Connector;
using Dynamo.Operator.Controller;
using Dynamo.Operator.Reconcile;
using Dynamo.Operator.Tests.Infrastructure;
using Dynamo.Planner;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Dynamo.Operator.Tests;

/// <summary>The planner's kubernetes connector against the one-machine API server, with the reconciler run by hand between steps.</summary>
public sealed class KubernetesConnectorTests(ITestOutputHelper output)
{
    private static GraphReconciler Reconciler(OperatorTestCluster cluster) =>
        new(cluster.Api, new EventRecorder(cluster.Api, cluster.Loggers.CreateLogger<EventRecorder>()), cluster.Loggers.CreateLogger<GraphReconciler>());

    private static PoolState Pool(IReadOnlyList<PoolState> pools, WorkerRole role) => pools.Single(p => p.Role == role);

    [Fact]
    public async Task Pools_FollowAdaptersAndDeployments_AndATargetStaysPendingUntilTheNewPodsAreReady()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        var api = cluster.Api;
        var reconciler = Reconciler(cluster);
        await cluster.ApplyGraphAsync(TestGraphs.DisaggPath);
        await reconciler.ReconcileAsync("default", "disagg", CancellationToken.None);
        using var plannerClient = cluster.NewClient();
        var connector = new KubernetesScalingConnector(plannerClient, "default", "disagg", cluster.Loggers.CreateLogger<KubernetesScalingConnector>());

        var pools = await connector.GetPoolsAsync(CancellationToken.None);
        Assert.Equal([WorkerRole.Prefill, WorkerRole.Decode], pools.Select(p => p.Role));
        Assert.Equal(new PoolState(WorkerRole.Decode, 1, 0, 0), Pool(pools, WorkerRole.Decode));

        await Objects.MarkReadyAsync(api, "default", "disagg-prefill");
        await Objects.MarkReadyAsync(api, "default", "disagg-decode");
        Assert.All(await connector.GetPoolsAsync(CancellationToken.None), p => Assert.True(p.Settled, $"{p} not settled"));

        await connector.SetTargetsAsync(new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Decode] = 3 }, "test: more decode"), CancellationToken.None);
        Assert.Equal(3, await Objects.ReplicasAsync(api, KubeResource.Adapters, "default", "disagg-decode"));
        var decode = Pool(await connector.GetPoolsAsync(CancellationToken.None), WorkerRole.Decode);
        Assert.Equal(new PoolState(WorkerRole.Decode, 3, 1, 1), decode);
        Assert.False(decode.Settled);

        // The operator scales the Deployment; until its pods are ready the change is still pending.
        await reconciler.ReconcileAsync("default", "disagg", CancellationToken.None);
        Assert.Equal(3, await Objects.ReplicasAsync(api, KubeResource.Deployments, "default", "disagg-decode"));
        await Objects.MarkReadyAsync(api, "default", "disagg-decode", ready: 2);
        Assert.False(Pool(await connector.GetPoolsAsync(CancellationToken.None), WorkerRole.Decode).Settled);
        await Objects.MarkReadyAsync(api, "default", "disagg-decode");
        Assert.True(Pool(await connector.GetPoolsAsync(CancellationToken.None), WorkerRole.Decode).Settled);

        // The reconciler keeps the planner's count (the adapter rules).
        await reconciler.ReconcileAsync("default", "disagg", CancellationToken.None);
        Assert.Equal(3, await Objects.ReplicasAsync(api, KubeResource.Deployments, "default", "disagg-decode"));
    }

    [Fact]
    public async Task WithoutTheAdapter_TheGraphsReplicasArePatched()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        var api = cluster.Api;
        var reconciler = Reconciler(cluster);
        await cluster.ApplyGraphAsync(TestGraphs.DisaggPath);
        await reconciler.ReconcileAsync("default", "disagg", CancellationToken.None);
        await api.DeleteAsync(KubeResource.Adapters, "default", "disagg-prefill");
        var connector = new KubernetesScalingConnector(api, "default", "disagg", cluster.Loggers.CreateLogger<KubernetesScalingConnector>());

        await connector.SetTargetsAsync(new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Prefill] = 2 }, "test: more prefill"), CancellationToken.None);

        var graph = await api.GetAsync(KubeResource.Graphs, "default", "disagg");
        var prefill = graph!["spec"]!["components"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "prefill")!;
        Assert.Equal(2, prefill["replicas"]!.GetValue<int>());
        // The operator recreates the adapter from the graph's new count.
        await reconciler.ReconcileAsync("default", "disagg", CancellationToken.None);
        Assert.Equal(2, await Objects.ReplicasAsync(api, KubeResource.Adapters, "default", "disagg-prefill"));
        Assert.Equal(2, await Objects.ReplicasAsync(api, KubeResource.Deployments, "default", "disagg-prefill"));
    }

    [Fact]
    public async Task ScalingGroup_GrowsByWholeUnitsKeepingTheRatio()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        var api = cluster.Api;
        await api.CreateAsync(new KubeResource("", "v1", "namespaces", "Namespace", Namespaced: false), null,
            new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = "inference" } });
        var reconciler = Reconciler(cluster);
        await cluster.ApplyGraphAsync(TestGraphs.GroupPath, "inference");
        await reconciler.ReconcileAsync("inference", "grouped", CancellationToken.None);
        var connector = new KubernetesScalingConnector(api, "inference", "grouped", cluster.Loggers.CreateLogger<KubernetesScalingConnector>());
        var pools = await connector.GetPoolsAsync(CancellationToken.None);
        Assert.Equal(2, Pool(pools, WorkerRole.Prefill).Desired);
        Assert.Equal(4, Pool(pools, WorkerRole.Decode).Desired);

        // 3 prefill and 5 decode need max(3/1, ceil(5/2)) = 3 units: 3 prefill, 6 decode.
        await connector.SetTargetsAsync(new ScalingTargets(new Dictionary<WorkerRole, int> { [WorkerRole.Prefill] = 3, [WorkerRole.Decode] = 5 }, "test"), CancellationToken.None);
        Assert.Equal(3, await Objects.ReplicasAsync(api, KubeResource.Adapters, "inference", "grouped-pd"));
        await reconciler.ReconcileAsync("inference", "grouped", CancellationToken.None);
        Assert.Equal(3, await Objects.ReplicasAsync(api, KubeResource.Deployments, "inference", "grouped-prefill"));
        Assert.Equal(6, await Objects.ReplicasAsync(api, KubeResource.Deployments, "inference", "grouped-decode"));
    }

    /// <summary>Wants 3 decode workers, then 4 from the second decision on; keeps the other pools.</summary>
    private sealed class MoreDecode : IScalingPolicy
    {
        private int _calls;

        public PlannerDecision Decide(PlannerInput input)
        {
            var decode = ++_calls == 1 ? 3 : 4;
            return new(input.Pools.ToDictionary(p => p.Role, p => p.Role == WorkerRole.Decode ? decode : p.Desired), DecisionReason.Load, $"test: decode {decode}", 0, 0, 0);
        }
    }

    private sealed class SteadyLoad(TimeProvider time) : ILoadObserver
    {
        public Task<LoadObservation> ObserveAsync(CancellationToken cancellationToken) =>
            Task.FromResult(new LoadObservation(time.GetUtcNow(), TimeSpan.FromSeconds(5), 10, 100, 50, null, null, 0, []));
    }

    [Fact]
    public async Task PlannerLoop_HoldsWhileTheChangeIsPending_AndGivesUpPodsNotReadyInTime()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        var api = cluster.Api;
        var reconciler = Reconciler(cluster);
        await cluster.ApplyGraphAsync(TestGraphs.DisaggPath);
        await reconciler.ReconcileAsync("default", "disagg", CancellationToken.None);
        await Objects.MarkReadyAsync(api, "default", "disagg-prefill");
        await Objects.MarkReadyAsync(api, "default", "disagg-decode");
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var connector = new KubernetesScalingConnector(api, "default", "disagg", cluster.Loggers.CreateLogger<KubernetesScalingConnector>());
        var loop = new PlannerLoop(new SteadyLoad(time), new MoreDecode(), connector, new PlannerLoopOptions { ReadyTimeout = TimeSpan.FromSeconds(30) },
            new PlannerMetrics(), time, cluster.Loggers.CreateLogger<PlannerLoop>());

        var step = await loop.StepAsync(CancellationToken.None);
        Assert.True(step.Acted, step.Detail);
        Assert.Equal(3, await Objects.ReplicasAsync(api, KubeResource.Adapters, "default", "disagg-decode"));

        // The operator scales the Deployment; only one of the two new pods becomes ready (say, no GPU for the other).
        await reconciler.ReconcileAsync("default", "disagg", CancellationToken.None);
        await Objects.MarkReadyAsync(api, "default", "disagg-decode", ready: 2);
        time.Advance(TimeSpan.FromSeconds(5));
        step = await loop.StepAsync(CancellationToken.None);
        // The policy now wants 4, but the change to 3 is not done: the loop holds.
        Assert.Equal(DecisionReason.Pending, step.Reason);
        Assert.False(step.Acted);
        Assert.Equal(3, await Objects.ReplicasAsync(api, KubeResource.Adapters, "default", "disagg-decode"));

        time.Advance(TimeSpan.FromSeconds(31));
        await loop.StepAsync(CancellationToken.None);
        // The pod that never became ready is given up: the decode target drops to the 2 that are ready.
        Assert.Equal(2, await Objects.ReplicasAsync(api, KubeResource.Adapters, "default", "disagg-decode"));
        await reconciler.ReconcileAsync("default", "disagg", CancellationToken.None);
        Assert.Equal(2, await Objects.ReplicasAsync(api, KubeResource.Deployments, "default", "disagg-decode"));
    }
}
