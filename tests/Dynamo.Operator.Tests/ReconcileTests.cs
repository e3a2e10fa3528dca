using System.Text;
using System.Text.Json.Nodes;
using Dynamo.Operator.Client;
using Dynamo.Operator.Controller;
using Dynamo.Operator.Reconcile;
using Dynamo.Operator.Tests.Infrastructure;
using Dynamo.Runtime.Security;
using Dynamo.Runtime.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Dynamo.Operator.Tests;

/// <summary>The operator against the one-machine API server over HTTPS: objects, status, scaling, conflicts, validation, deletion.</summary>
public sealed class ReconcileTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private sealed class Running : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _run;

        public Running(GraphController controller)
        {
            Controller = controller;
            _run = controller.RunAsync(_stop.Token);
        }

        public GraphController Controller { get; }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _run.WaitAsync(TimeSpan.FromSeconds(10));
            Controller.Dispose();
            _stop.Dispose();
        }
    }

    private Running Start(OperatorTestCluster cluster) =>
        new(new GraphController(cluster.Api, "default", cluster.Loggers, baseBackoff: TimeSpan.FromMilliseconds(50)));

    private static async Task<JsonObject> GetAsync(OperatorTestCluster cluster, KubeResource resource, string name) =>
        await cluster.Api.GetAsync(resource, "default", name) ?? throw new InvalidOperationException($"{resource} {name} is missing");

    [Fact]
    public async Task Agg_CreatesEveryObject_ThenStatusFollowsTheDeployments()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        await using var running = Start(cluster);
        await cluster.ApplyGraphAsync(TestGraphs.AggPath);

        var api = cluster.Api;
        await Wait.UntilAsync(async () => await api.GetAsync(KubeResource.Graphs, "default", "agg") is { } g
            && g["status"]?["observedGeneration"]?.GetValue<long>() == 1, () => "the graph's first status", Timeout);
        foreach (var (resource, name) in new[]
        {
            (KubeResource.Deployments, "agg-frontend"), (KubeResource.Deployments, "agg-worker"), (KubeResource.Services, "agg-frontend"),
            (KubeResource.Services, "agg-nats"), (KubeResource.StatefulSets, "agg-nats"), (KubeResource.ConfigMaps, "agg-config"),
            (KubeResource.Secrets, "agg-cluster-secret"), (KubeResource.Adapters, "agg-worker"), (KubeResource.Adapters, "agg-frontend"),
        })
        {
            var obj = await GetAsync(cluster, resource, name);
            Assert.Equal("agg", obj["metadata"]!["ownerReferences"]![0]!["name"]!.GetValue<string>());
        }

        var graph = await GetAsync(cluster, KubeResource.Graphs, "agg");
        Assert.Contains("dynamo.dotnet.dev/finalizer", graph["metadata"]!["finalizers"]!.AsArray().Select(f => f!.GetValue<string>()));
        Assert.Equal("pending", graph["status"]!["state"]!.GetValue<string>());
        Assert.Equal("False", Objects.Condition(graph, "Ready"));
        Assert.Equal("True", Objects.Condition(graph, "Progressing"));
        Assert.Equal(30080, (await GetAsync(cluster, KubeResource.Services, "agg-frontend"))["spec"]!["ports"]![0]!["nodePort"]!.GetValue<int>());
        Assert.Equal("mocker", (await GetAsync(cluster, KubeResource.ConfigMaps, "agg-config"))["data"]!["DYNAMO__SERVE__ENGINE"]!.GetValue<string>());

        // The secret is what the processes accept: base64 of 32 random bytes.
        var secretText = Encoding.UTF8.GetString(Convert.FromBase64String((await GetAsync(cluster, KubeResource.Secrets, "agg-cluster-secret"))["data"]!["secret"]!.GetValue<string>()));
        Assert.Equal(32, Convert.FromBase64String(secretText).Length);
        Assert.NotNull(ClusterSecret.FromText(secretText, "test"));

        await Objects.MarkReadyAsync(api, "default", "agg-frontend");
        await Objects.MarkReadyAsync(api, "default", "agg-worker");
        await Wait.UntilAsync(async () => (await api.GetAsync(KubeResource.Graphs, "default", "agg"))?["status"]?["state"]?.GetValue<string>() == "successful",
            () => "the graph to become successful once its Deployments are ready", Timeout);
        graph = await GetAsync(cluster, KubeResource.Graphs, "agg");
        Assert.Equal("True", Objects.Condition(graph, "Ready"));
        Assert.Equal("AllComponentsReady", Objects.Condition(graph, "Ready", "reason"));
        Assert.Equal("False", Objects.Condition(graph, "Degraded"));
        var worker = graph["status"]!["components"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "worker")!;
        Assert.Equal(2, worker["readyReplicas"]!.GetValue<int>());
        await Wait.UntilAsync(async () => (await api.GetAsync(KubeResource.Adapters, "default", "agg-worker"))?["status"]?["readyReplicas"]?.GetValue<int>() == 2,
            () => "the adapter's status", Timeout);
        var adapter = await GetAsync(cluster, KubeResource.Adapters, "agg-worker");
        Assert.Equal("app.kubernetes.io/instance=agg,dynamo.dotnet.dev/scaling-adapter=agg-worker", adapter["status"]!["selector"]!.GetValue<string>());
    }

    [Fact]
    public async Task ScaleOfTheAdapter_IsHonouredAndNeverReverted_AndAGraphChangeIsCopiedOnce()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        await using var running = Start(cluster);
        await cluster.ApplyGraphAsync(TestGraphs.AggPath);
        var api = cluster.Api;
        await Wait.UntilAsync(async () => await Objects.ReplicasAsync(api, KubeResource.Deployments, "default", "agg-worker") == 2, () => "agg-worker with 2 replicas", Timeout);

        // kubectl scale dgdsa/agg-worker --replicas 3 patches the scale subresource.
        await api.PatchAsync(KubeResource.Adapters, "default", "agg-worker", new JsonObject { ["spec"] = new JsonObject { ["replicas"] = 3 } }, PatchKind.Merge, "scale");
        await Wait.UntilAsync(async () => await Objects.ReplicasAsync(api, KubeResource.Deployments, "default", "agg-worker") == 3, () => "agg-worker scaled to 3 by the adapter", Timeout);

        // Another reconcile (an unrelated change to the graph) keeps the adapter's count.
        await api.PatchAsync(KubeResource.Graphs, "default", "agg", new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = new JsonObject { ["touched"] = "1" } } }, PatchKind.Merge);
        await Objects.MarkReadyAsync(api, "default", "agg-worker");
        await Wait.UntilAsync(async () => (await api.GetAsync(KubeResource.Adapters, "default", "agg-worker"))?["status"]?["readyReplicas"]?.GetValue<int>() == 3, () => "a reconcile after the touch", Timeout);
        Assert.Equal(3, await Objects.ReplicasAsync(api, KubeResource.Adapters, "default", "agg-worker"));
        Assert.Equal(3, await Objects.ReplicasAsync(api, KubeResource.Deployments, "default", "agg-worker"));

        // A new count in the graph's own spec is copied into the adapter once ...
        await api.PatchAsync(KubeResource.Graphs, "default", "agg", new JsonArray(
            new JsonObject { ["op"] = "test", ["path"] = "/spec/components/1/name", ["value"] = "worker" },
            new JsonObject { ["op"] = "replace", ["path"] = "/spec/components/1/replicas", ["value"] = 5 }), PatchKind.Json);
        await Wait.UntilAsync(async () => await Objects.ReplicasAsync(api, KubeResource.Deployments, "default", "agg-worker") == 5, () => "the graph's new count (5) copied through the adapter", Timeout);
        Assert.Equal(5, await Objects.ReplicasAsync(api, KubeResource.Adapters, "default", "agg-worker"));

        // ... after which the adapter rules again.
        await api.PatchAsync(KubeResource.Adapters, "default", "agg-worker", new JsonObject { ["spec"] = new JsonObject { ["replicas"] = 1 } }, PatchKind.Merge, "scale");
        await Wait.UntilAsync(async () => await Objects.ReplicasAsync(api, KubeResource.Deployments, "default", "agg-worker") == 1, () => "agg-worker scaled down to 1", Timeout);
        var graph = await GetAsync(cluster, KubeResource.Graphs, "agg");
        Assert.Equal(5, graph["spec"]!["components"]![1]!["replicas"]!.GetValue<int>());
    }

    [Fact]
    public async Task StatusWrite_HittingAConflict_IsRetriedWithTheFreshObject()
    {
        FaultHandler? faults = null;
        await using var cluster = await OperatorTestCluster.StartAsync(output, wrap: inner => faults = new FaultHandler(inner));
        await cluster.ApplyGraphAsync(TestGraphs.AggPath);
        using var other = cluster.NewClient();
        faults!.Match = r => r.Method == HttpMethod.Put && r.RequestUri!.AbsolutePath.EndsWith("/dynamographdeployments/agg/status", StringComparison.Ordinal);
        // Someone else changes the graph between the operator's read and its write: the server answers 409.
        faults.BeforeMatched = () => other.PatchAsync(KubeResource.Graphs, "default", "agg",
            new JsonObject { ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["team"] = "inference" } } }, PatchKind.Merge);
        var reconciler = new GraphReconciler(cluster.Api, new EventRecorder(cluster.Api, cluster.Loggers.CreateLogger<EventRecorder>()), cluster.Loggers.CreateLogger<GraphReconciler>());

        Assert.Equal(ReconcileOutcome.Applied, await reconciler.ReconcileAsync("default", "agg", CancellationToken.None));

        Assert.Null(faults.Match);
        Assert.True(reconciler.ConflictsRetried >= 1, "the 409 was not seen");
        var graph = await GetAsync(cluster, KubeResource.Graphs, "agg");
        Assert.Equal(1, graph["status"]!["observedGeneration"]!.GetValue<long>());
        Assert.Equal("inference", graph["metadata"]!["labels"]!["team"]!.GetValue<string>());
    }

    [Fact]
    public async Task InvalidGraph_IsReportedInStatusAndEvents_NothingApplied_UntilFixed()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        await using var running = Start(cluster);
        var api = cluster.Api;
        var graph = TestGraphs.Json(TestGraphs.DisaggPath);
        graph["spec"]!["scalingGroups"] = new JsonArray(new JsonObject
        {
            ["name"] = "pd",
            ["replicas"] = 1,
            ["minAvailable"] = 2,
            ["members"] = new JsonArray(new JsonObject { ["component"] = "prefill" }, new JsonObject { ["component"] = "decoder" }),
        });
        await api.CreateAsync(KubeResource.Graphs, "default", graph);

        await Wait.UntilAsync(async () => (await api.GetAsync(KubeResource.Graphs, "default", "disagg"))?["status"]?["state"]?.GetValue<string>() == "failed",
            () => "the graph's failed state", Timeout);
        var status = await GetAsync(cluster, KubeResource.Graphs, "disagg");
        Assert.Equal("True", Objects.Condition(status, "Degraded"));
        Assert.Equal("InvalidSpec", Objects.Condition(status, "Degraded", "reason"));
        var message = Objects.Condition(status, "Degraded", "message")!;
        Assert.Contains("spec.scalingGroups[0].members[1].component: unknown component 'decoder'", message, StringComparison.Ordinal);
        Assert.Contains("spec.scalingGroups[0].minAvailable", message, StringComparison.Ordinal);
        Assert.Empty((await api.ListAsync(KubeResource.Deployments, "default")).Items);
        await Wait.UntilAsync(async () => (await api.ListAsync(KubeResource.Events, "default")).Items.Any(e =>
            e["reason"]?.GetValue<string>() == "InvalidSpec" && e["type"]?.GetValue<string>() == "Warning"
            && e["involvedObject"]?["name"]?.GetValue<string>() == "disagg"), () => "a Warning event InvalidSpec", Timeout);

        await api.PatchAsync(KubeResource.Graphs, "default", "disagg", new JsonObject { ["spec"] = new JsonObject { ["scalingGroups"] = null } }, PatchKind.Merge);
        await Wait.UntilAsync(async () => (await api.ListAsync(KubeResource.Deployments, "default")).Items.Count == 4, () => "the four Deployments once the spec is fixed", Timeout);
        await Wait.UntilAsync(async () => Objects.Condition(await api.GetAsync(KubeResource.Graphs, "default", "disagg"), "Degraded") == "False", () => "Degraded cleared", Timeout);
    }

    [Fact]
    public async Task SchemaViolation_IsRefusedBy422NamingTheField()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        var graph = TestGraphs.Json(TestGraphs.AggPath);
        graph["spec"]!["components"]![1]!["replicas"] = -1;
        var error = await Assert.ThrowsAsync<KubeApiException>(() => cluster.Api.CreateAsync(KubeResource.Graphs, "default", graph));
        Assert.Equal(422, (int)error.Status);
        Assert.Contains("spec.components[1].replicas", error.ApiMessage, StringComparison.Ordinal);

        graph = TestGraphs.Json(TestGraphs.AggPath);
        graph["spec"]!["components"]![1]!["type"] = "trainer";
        error = await Assert.ThrowsAsync<KubeApiException>(() => cluster.Api.CreateAsync(KubeResource.Graphs, "default", graph));
        Assert.Equal(422, (int)error.Status);
        Assert.Contains("spec.components[1].type", error.ApiMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletedDeployment_IsRecreated_AndDeletingTheGraphReleasesItsObjects()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        await using var running = Start(cluster);
        var api = cluster.Api;
        await cluster.ApplyGraphAsync(TestGraphs.AggPath);
        await Wait.UntilAsync(async () => await api.GetAsync(KubeResource.Deployments, "default", "agg-worker") is not null, () => "agg-worker", Timeout);
        var uid = (await GetAsync(cluster, KubeResource.Deployments, "agg-worker"))["metadata"]!["uid"]!.GetValue<string>();

        await api.DeleteAsync(KubeResource.Deployments, "default", "agg-worker");
        await Wait.UntilAsync(async () => (await api.GetAsync(KubeResource.Deployments, "default", "agg-worker"))?["metadata"]?["uid"]?.GetValue<string>() is { } now && now != uid,
            () => "agg-worker recreated", Timeout);

        await api.DeleteAsync(KubeResource.Graphs, "default", "agg");
        await Wait.UntilAsync(async () => await api.GetAsync(KubeResource.Graphs, "default", "agg") is null, () => "the graph gone once the finalizer is released", Timeout);
        await Wait.UntilAsync(async () => (await api.ListAsync(KubeResource.Deployments, "default")).Items.Count == 0
            && (await api.ListAsync(KubeResource.Adapters, "default")).Items.Count == 0
            && await api.GetAsync(KubeResource.Secrets, "default", "agg-cluster-secret") is null, () => "the owned objects collected", Timeout);
    }

    [Fact]
    public async Task RemovedComponent_IsPruned()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        await using var running = Start(cluster);
        var api = cluster.Api;
        await cluster.ApplyGraphAsync(TestGraphs.DisaggPath);
        await Wait.UntilAsync(async () => await api.GetAsync(KubeResource.Deployments, "default", "disagg-planner") is not null, () => "disagg-planner", Timeout);

        await api.PatchAsync(KubeResource.Graphs, "default", "disagg", new JsonArray(
            new JsonObject { ["op"] = "test", ["path"] = "/spec/components/3/name", ["value"] = "planner" },
            new JsonObject { ["op"] = "remove", ["path"] = "/spec/components/3" }), PatchKind.Json);
        await Wait.UntilAsync(async () => await api.GetAsync(KubeResource.Deployments, "default", "disagg-planner") is null, () => "the planner's Deployment pruned", Timeout);
        Assert.NotNull(await api.GetAsync(KubeResource.Deployments, "default", "disagg-decode"));
    }

    [Theory]
    [InlineData("agg")]
    [InlineData("disagg")]
    public async Task SecondReconcile_OfAnUnchangedGraph_WritesNothing(string name)
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        var api = cluster.Api;
        await cluster.ApplyGraphAsync(name == "agg" ? TestGraphs.AggPath : TestGraphs.DisaggPath);
        var reconciler = new GraphReconciler(api, new EventRecorder(api, cluster.Loggers.CreateLogger<EventRecorder>()), cluster.Loggers.CreateLogger<GraphReconciler>());
        await reconciler.ReconcileAsync("default", name, CancellationToken.None);
        await reconciler.ReconcileAsync("default", name, CancellationToken.None);

        async Task<Dictionary<string, string>> VersionsAsync()
        {
            var versions = new Dictionary<string, string>();
            foreach (var resource in new[] { KubeResource.Graphs, KubeResource.Adapters, KubeResource.Deployments, KubeResource.StatefulSets, KubeResource.Services, KubeResource.ConfigMaps, KubeResource.Secrets })
            {
                foreach (var item in (await api.ListAsync(resource, "default")).Items)
                {
                    versions[$"{resource}/{item["metadata"]!["name"]}"] = item["metadata"]!["resourceVersion"]!.GetValue<string>();
                }
            }

            return versions;
        }

        var before = await VersionsAsync();
        Assert.Equal(ReconcileOutcome.Applied, await reconciler.ReconcileAsync("default", name, CancellationToken.None));
        var after = await VersionsAsync();
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task DeletedSecret_ComesBackAtTheNextResync()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output);
        await using var running = new Running(new GraphController(cluster.Api, "default", cluster.Loggers, baseBackoff: TimeSpan.FromMilliseconds(50), resync: TimeSpan.FromMilliseconds(300)));
        var api = cluster.Api;
        await cluster.ApplyGraphAsync(TestGraphs.AggPath);
        await Wait.UntilAsync(async () => await api.GetAsync(KubeResource.Secrets, "default", "agg-cluster-secret") is not null, () => "the Secret", Timeout);
        var first = (await GetAsync(cluster, KubeResource.Secrets, "agg-cluster-secret"))["metadata"]!["uid"]!.GetValue<string>();

        // Secrets are not watched; the periodic resync finds it missing and makes a new one.
        await api.DeleteAsync(KubeResource.Secrets, "default", "agg-cluster-secret");
        await Wait.UntilAsync(async () => (await api.GetAsync(KubeResource.Secrets, "default", "agg-cluster-secret"))?["metadata"]?["uid"]?.GetValue<string>() is { } uid && uid != first,
            () => "a new Secret after the resync", Timeout);
    }
}
