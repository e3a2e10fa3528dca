using Dynamo.DevCluster.Tests.Infrastructure;
using Dynamo.Operator.Client;
using Dynamo.Operator.Controller;
using Dynamo.Operator.Tests.Infrastructure;
using Dynamo.Runtime.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Dynamo.Operator.Tests;

/// <summary>The checked-in CRDs and examples with the real kubectl v1.35 against the one-machine API server, the operator running.</summary>
public sealed class KubectlTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ApplyCrdsAndExample_GetScaleDescribeDelete()
    {
        await using var cluster = await OperatorTestCluster.StartAsync(output, installCrds: false);
        var work = RepoFiles.Root;
        async Task<Kubectl.Result> Run(params string[] args)
        {
            var result = await Kubectl.RunAsync(cluster.Kubeconfig, work, args);
            output.WriteLine($"$ kubectl {string.Join(' ', args)} -> {result.ExitCode}\n{result.All}");
            Assert.True(result.ExitCode == 0, $"kubectl {string.Join(' ', args)} failed: {result.All}");
            return result;
        }

        await Run("apply", "-f", "operators/crds/");
        await cluster.WaitForCrdsAsync();
        using var stop = new CancellationTokenSource();
        using var controller = new GraphController(cluster.Api, null, cluster.Loggers, baseBackoff: TimeSpan.FromMilliseconds(50));
        var run = controller.RunAsync(stop.Token);

        await Run("apply", "-f", "operators/examples/agg.yaml");
        await Wait.UntilAsync(async () => await Objects.ReplicasAsync(cluster.Api, KubeResource.Deployments, "default", "agg-worker") == 2, () => "agg-worker", Timeout);
        await Wait.UntilAsync(async () => (await cluster.Api.GetAsync(KubeResource.Graphs, "default", "agg"))?["status"]?["state"] is not null, () => "agg's status", Timeout);

        var get = await Run("get", "dgd");
        Assert.Matches(@"NAME\s+STATE\s+READY\s+AGE", get.Stdout);
        Assert.Matches(@"agg\s+pending\s+False", get.Stdout);

        await Run("scale", "dgdsa/agg-worker", "--replicas", "3");
        await Wait.UntilAsync(async () => await Objects.ReplicasAsync(cluster.Api, KubeResource.Deployments, "default", "agg-worker") == 3, () => "agg-worker scaled to 3 by kubectl scale", Timeout);
        Assert.Matches(@"agg-worker\s+agg\s+worker\s+3", (await Run("get", "dgdsa")).Stdout);

        // Applying the unchanged file again leaves the hand-made scale alone.
        await Run("apply", "-f", "operators/examples/agg.yaml");
        await Objects.MarkReadyAsync(cluster.Api, "default", "agg-worker");
        await Wait.UntilAsync(async () => (await cluster.Api.GetAsync(KubeResource.Adapters, "default", "agg-worker"))?["status"]?["readyReplicas"]?.GetValue<int>() == 3, () => "a reconcile after the re-apply", Timeout);
        Assert.Equal(3, await Objects.ReplicasAsync(cluster.Api, KubeResource.Deployments, "default", "agg-worker"));

        var describe = await Run("describe", "dgd", "agg");
        Assert.Contains("Created Deployment agg-worker", describe.Stdout, StringComparison.Ordinal);
        Assert.Contains("ComponentsNotReady", describe.Stdout, StringComparison.Ordinal);
        // Nothing changed in NATS or the frontend: no write (a defaulted field read as a difference would loop).
        Assert.DoesNotContain("Updated StatefulSet", describe.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Updated Deployment agg-frontend", describe.Stdout, StringComparison.Ordinal);

        var invalid = await Kubectl.RunAsync(cluster.Kubeconfig, work, "scale", "dgdsa/agg-worker", "--replicas", "-1");
        Assert.NotEqual(0, invalid.ExitCode);

        await Run("delete", "-f", "operators/examples/agg.yaml");
        await Wait.UntilAsync(async () => (await cluster.Api.ListAsync(KubeResource.Deployments, "default")).Items.Count == 0, () => "every Deployment gone", Timeout);
        await stop.CancelAsync();
        await run.WaitAsync(Timeout);
    }
}
