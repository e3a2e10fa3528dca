using System.Net;
using Dynamo.DevCluster.Tests.Infrastructure;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests;

/// <summary>Finalizers, owner-reference garbage collection and the propagation policies, and graceful Pod deletion.</summary>
public sealed class DeletionTests(ITestOutputHelper output)
{
    private static V1ConfigMap Owned(string name, V1ObjectMeta? owner = null, string kind = "ConfigMap", IList<string>? finalizers = null) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = name,
            Finalizers = finalizers,
            OwnerReferences = owner is null ? null :
            [
                new V1OwnerReference { ApiVersion = "v1", Kind = kind, Name = owner.Name, Uid = owner.Uid, BlockOwnerDeletion = true, Controller = true },
            ],
        },
    };

    private static async Task<bool> ExistsAsync(TestApiServer t, string name)
    {
        try
        {
            await t.Client.CoreV1.ReadNamespacedConfigMapAsync(name, "default");
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    [Fact]
    public async Task Finalizer_HoldsTheObjectWithDeletionTimestamp_UntilRemoved()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(Owned("a", finalizers: ["dynamo.dev/cleanup"]), "default");

        await t.Client.CoreV1.DeleteNamespacedConfigMapAsync("a", "default");
        var held = await t.Client.CoreV1.ReadNamespacedConfigMapAsync("a", "default");
        held.Metadata.Finalizers.Add("dynamo.dev/another");
        var addWhileDeleting = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.ReplaceNamespacedConfigMapAsync(held, "a", "default"));
        await t.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch("""{"metadata":{"finalizers":null}}""", V1Patch.PatchType.MergePatch), "a", "default");

        Assert.NotNull(held.Metadata.DeletionTimestamp);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, addWhileDeleting.Response.StatusCode);
        Assert.False(await ExistsAsync(t, "a"));
    }

    [Fact]
    public async Task BackgroundDelete_CollectsDependents_Transitively()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var owner = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(Owned("owner"), "default");
        var child = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(Owned("child", owner.Metadata), "default");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(Owned("grandchild", child.Metadata), "default");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(Owned("unrelated"), "default");

        await t.Client.CoreV1.DeleteNamespacedConfigMapAsync("owner", "default", propagationPolicy: "Background");

        Assert.False(await ExistsAsync(t, "owner"));
        Assert.False(await ExistsAsync(t, "child"));
        Assert.False(await ExistsAsync(t, "grandchild"));
        Assert.True(await ExistsAsync(t, "unrelated"));
    }

    [Fact]
    public async Task OrphanDelete_KeepsDependents_AndDropsTheirOwnerReference()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var owner = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(Owned("owner"), "default");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(Owned("child", owner.Metadata), "default");

        await t.Client.CoreV1.DeleteNamespacedConfigMapAsync("owner", "default", propagationPolicy: "Orphan");

        Assert.False(await ExistsAsync(t, "owner"));
        var child = await t.Client.CoreV1.ReadNamespacedConfigMapAsync("child", "default");
        Assert.Null(child.Metadata.OwnerReferences);
    }

    [Fact]
    public async Task ForegroundDelete_KeepsTheOwnerUntilDependentsAreGone()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var owner = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(Owned("owner"), "default");
        // The dependent has its own finalizer, so the foreground delete must wait on it.
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(Owned("child", owner.Metadata, finalizers: ["dynamo.dev/hold"]), "default");

        await t.Client.CoreV1.DeleteNamespacedConfigMapAsync("owner", "default", propagationPolicy: "Foreground");
        var waiting = await t.Client.CoreV1.ReadNamespacedConfigMapAsync("owner", "default");
        var child = await t.Client.CoreV1.ReadNamespacedConfigMapAsync("child", "default");
        await t.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch("""{"metadata":{"finalizers":[]}}""", V1Patch.PatchType.MergePatch), "child", "default");

        Assert.Contains("foregroundDeletion", waiting.Metadata.Finalizers);
        Assert.NotNull(waiting.Metadata.DeletionTimestamp);
        Assert.NotNull(child.Metadata.DeletionTimestamp);
        Assert.False(await ExistsAsync(t, "child"));
        Assert.False(await ExistsAsync(t, "owner"));
    }

    [Fact]
    public async Task DeletingADeployment_CollectsItsReplicaSetsAndPods()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var labels = new Dictionary<string, string> { ["app"] = "web" };
        var template = new V1PodTemplateSpec
        {
            Metadata = new V1ObjectMeta { Labels = labels },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "main", Image = "dynamo" }] },
        };
        var deployment = await t.Client.AppsV1.CreateNamespacedDeploymentAsync(new V1Deployment
        {
            Metadata = new V1ObjectMeta { Name = "web" },
            Spec = new V1DeploymentSpec { Selector = new V1LabelSelector { MatchLabels = labels }, Template = template },
        }, "default");
        var rs = await t.Client.AppsV1.CreateNamespacedReplicaSetAsync(new V1ReplicaSet
        {
            Metadata = new V1ObjectMeta
            {
                Name = "web-1", Labels = labels,
                OwnerReferences = [new V1OwnerReference { ApiVersion = "apps/v1", Kind = "Deployment", Name = "web", Uid = deployment.Metadata.Uid, Controller = true }],
            },
            Spec = new V1ReplicaSetSpec { Selector = new V1LabelSelector { MatchLabels = labels }, Template = template, Replicas = 1 },
        }, "default");
        var pod = await t.Client.CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = "web-1-abcde", Labels = labels,
                OwnerReferences = [new V1OwnerReference { ApiVersion = "apps/v1", Kind = "ReplicaSet", Name = "web-1", Uid = rs.Metadata.Uid, Controller = true }],
            },
            Spec = template.Spec,
        }, "default");

        await t.Client.AppsV1.DeleteNamespacedDeploymentAsync("web", "default");

        Assert.Equal("Pending", pod.Status.Phase);
        Assert.Empty((await t.Client.AppsV1.ListNamespacedReplicaSetAsync("default")).Items);
        Assert.Empty((await t.Client.CoreV1.ListNamespacedPodAsync("default")).Items);
    }

    [Fact]
    public async Task GracefulPodDeletion_MarksBoundPods_AndAZeroGraceDeleteRemovesThem()
    {
        await using var t = await TestApiServer.StartAsync(output, new DevApiServerOptions { GracefulPodDeletion = true });
        var spec = new V1PodSpec { Containers = [new V1Container { Name = "main", Image = "dynamo" }], NodeName = "local", TerminationGracePeriodSeconds = 5 };
        await t.Client.CoreV1.CreateNamespacedPodAsync(new V1Pod { Metadata = new V1ObjectMeta { Name = "bound" }, Spec = spec }, "default");
        await t.Client.CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "unbound" },
            Spec = new V1PodSpec { Containers = spec.Containers },
        }, "default");

        await t.Client.CoreV1.DeleteNamespacedPodAsync("bound", "default");
        await t.Client.CoreV1.DeleteNamespacedPodAsync("unbound", "default");
        var terminating = await t.Client.CoreV1.ReadNamespacedPodAsync("bound", "default");
        // What a node agent does once the process has stopped.
        await t.Client.CoreV1.DeleteNamespacedPodAsync("bound", "default", gracePeriodSeconds: 0);

        Assert.NotNull(terminating.Metadata.DeletionTimestamp);
        Assert.Equal(5, terminating.Metadata.DeletionGracePeriodSeconds);
        Assert.Empty((await t.Client.CoreV1.ListNamespacedPodAsync("default")).Items);
    }

    [Fact]
    public async Task PodBinding_AssignsANodeOnce()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "p" },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "main", Image = "dynamo" }] },
        }, "default");
        var binding = new V1Binding { Metadata = new V1ObjectMeta { Name = "p" }, Target = new V1ObjectReference { Kind = "Node", Name = "local" } };

        await t.Client.CoreV1.CreateNamespacedPodBindingAsync(binding, "p", "default");
        var again = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.CreateNamespacedPodBindingAsync(binding, "p", "default"));

        Assert.Equal("local", (await t.Client.CoreV1.ReadNamespacedPodAsync("p", "default")).Spec.NodeName);
        Assert.Equal(HttpStatusCode.Conflict, again.Response.StatusCode);
        Assert.Contains("already assigned", again.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownPropagationPolicy_Is400()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(Owned("a"), "default");

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.DeleteNamespacedConfigMapAsync("a", "default", propagationPolicy: "Sideways"));

        Assert.Equal(HttpStatusCode.BadRequest, e.Response.StatusCode);
        Assert.Contains("Sideways", e.Response.Content, StringComparison.Ordinal);
        Assert.True(await ExistsAsync(t, "a"));
    }
}
