using System.Net;
using System.Text.Json;
using Dynamo.DevCluster.Tests.Infrastructure;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests;

/// <summary>The patch types and the status and scale subresources, through KubernetesClient.</summary>
public sealed class PatchAndSubresourceTests(ITestOutputHelper output)
{
    private static V1Deployment Deployment(string name, int replicas = 2) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1DeploymentSpec
        {
            Replicas = replicas,
            Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app"] = name } },
            Template = new V1PodTemplateSpec
            {
                Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { ["app"] = name } },
                Spec = new V1PodSpec
                {
                    Containers =
                    [
                        new V1Container
                        {
                            Name = "main", Image = "dynamo:1",
                            Env = [new V1EnvVar { Name = "A", Value = "1" }, new V1EnvVar { Name = "B", Value = "2" }],
                            Ports = [new V1ContainerPort { ContainerPort = 8000 }, new V1ContainerPort { ContainerPort = 9000 }],
                            VolumeMounts = [new V1VolumeMount { MountPath = "/config", Name = "config" }],
                        },
                        new V1Container { Name = "sidecar", Image = "side:1" },
                    ],
                    Volumes = [new V1Volume { Name = "config", ConfigMap = new V1ConfigMapVolumeSource { Name = "cfg" } }],
                },
            },
        },
    };

    private static V1Patch Patch(string json, V1Patch.PatchType type) => new(json, type);

    [Fact]
    public async Task MergePatch_MergesMapsAndNullDeletes()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "a", Labels = new Dictionary<string, string> { ["x"] = "1", ["y"] = "2" } },
            Data = new Dictionary<string, string> { ["k"] = "1" },
        }, "default");

        var patched = await t.Client.CoreV1.PatchNamespacedConfigMapAsync(
            Patch("""{"metadata":{"labels":{"y":null,"z":"3"}},"data":{"k2":"2"}}""", V1Patch.PatchType.MergePatch), "a", "default");

        Assert.Equal(new Dictionary<string, string> { ["x"] = "1", ["z"] = "3" }, patched.Metadata.Labels);
        Assert.Equal(new Dictionary<string, string> { ["k"] = "1", ["k2"] = "2" }, patched.Data);
    }

    [Fact]
    public async Task JsonPatch_AppliesOperations_AndAFailedTestIs422()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), "default");

        var patched = await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Patch(
            """[{"op":"test","path":"/spec/replicas","value":2},{"op":"replace","path":"/spec/replicas","value":4},{"op":"add","path":"/spec/template/spec/containers/0/env/-","value":{"name":"C","value":"3"}},{"op":"remove","path":"/spec/template/spec/containers/1"}]""",
            V1Patch.PatchType.JsonPatch), "web", "default");
        var failed = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.AppsV1.PatchNamespacedDeploymentAsync(
            Patch("""[{"op":"test","path":"/spec/replicas","value":99}]""", V1Patch.PatchType.JsonPatch), "web", "default"));

        Assert.Equal(4, patched.Spec.Replicas);
        Assert.Equal("A,B,C", string.Join(",", patched.Spec.Template.Spec.Containers[0].Env.Select(e => e.Name)));
        Assert.Single(patched.Spec.Template.Spec.Containers);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, failed.Response.StatusCode);
    }

    [Fact]
    public async Task StrategicMergePatch_MergesListsByTheirKeys()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), "default");

        // Containers by name, env by name, ports by containerPort, volumeMounts by mountPath, volumes by name,
        // a $patch: delete item, and kubectl's $setElementOrder directive.
        var patched = await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Patch("""
            {"spec":{"template":{"spec":{
              "$setElementOrder/containers":[{"name":"sidecar"},{"name":"main"}],
              "containers":[
                {"name":"main","image":"dynamo:2",
                 "env":[{"name":"B","value":"20"},{"name":"A","$patch":"delete"}],
                 "ports":[{"containerPort":9000,"name":"metrics"}],
                 "volumeMounts":[{"mountPath":"/data","name":"data"}]}],
              "volumes":[{"name":"data","emptyDir":{}}]}}}}
            """, V1Patch.PatchType.StrategicMergePatch), "web", "default");

        var containers = patched.Spec.Template.Spec.Containers;
        Assert.Equal("sidecar,main", string.Join(",", containers.Select(c => c.Name)));
        var main = containers[1];
        Assert.Equal("dynamo:2", main.Image);
        Assert.Equal("B=20", string.Join(",", main.Env.Select(e => $"{e.Name}={e.Value}")));
        Assert.Equal("8000:,9000:metrics", string.Join(",", main.Ports.Select(p => $"{p.ContainerPort}:{p.Name}")));
        Assert.Equal("/config,/data", string.Join(",", main.VolumeMounts.Select(m => m.MountPath)));
        Assert.Equal("config,data", string.Join(",", patched.Spec.Template.Spec.Volumes.Select(v => v.Name)));
    }

    [Fact]
    public async Task StrategicMergePatch_OnConditions_MergesByType()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), "default");
        await t.Client.AppsV1.PatchNamespacedDeploymentStatusAsync(Patch(
            """{"status":{"conditions":[{"type":"Available","status":"False"},{"type":"Progressing","status":"True"}]}}""",
            V1Patch.PatchType.MergePatch), "web", "default");

        var patched = await t.Client.AppsV1.PatchNamespacedDeploymentStatusAsync(Patch(
            """{"status":{"conditions":[{"type":"Available","status":"True"}]}}""", V1Patch.PatchType.StrategicMergePatch), "web", "default");

        Assert.Equal("Available=True,Progressing=True", string.Join(",", patched.Status.Conditions.Select(c => $"{c.Type}={c.Status}")));
    }

    [Fact]
    public async Task ApplyPatch_ToTheScaleSubresource_IsRefusedWith415_NamingTheAlternative()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), "default");

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.AppsV1.PatchNamespacedDeploymentScaleAsync(
            Patch("""{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":3}}""", V1Patch.PatchType.ApplyPatch),
            "web", "default", fieldManager: "me"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, e.Response.StatusCode);
        var status = JsonDocument.Parse(e.Response.Content).RootElement;
        Assert.Equal("UnsupportedMediaType", status.GetProperty("reason").GetString());
        Assert.Contains("merge-patch", status.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatusSubresource_WritesOnlyStatus_AndMainWritesKeepIt()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var created = await t.Client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), "default");

        var afterStatus = await t.Client.AppsV1.PatchNamespacedDeploymentStatusAsync(Patch(
            """{"spec":{"replicas":9},"status":{"readyReplicas":2,"replicas":2}}""", V1Patch.PatchType.MergePatch), "web", "default");
        var afterMain = await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Patch(
            """{"spec":{"replicas":3},"status":{"readyReplicas":0}}""", V1Patch.PatchType.MergePatch), "web", "default");

        Assert.Equal(2, afterStatus.Spec.Replicas);
        Assert.Equal(2, afterStatus.Status.ReadyReplicas);
        Assert.Equal(created.Metadata.Generation, afterStatus.Metadata.Generation);
        Assert.Equal(3, afterMain.Spec.Replicas);
        Assert.Equal(2, afterMain.Status.ReadyReplicas);
        Assert.Equal(created.Metadata.Generation + 1, afterMain.Metadata.Generation);
    }

    [Fact]
    public async Task Generation_BumpsOnSpecChangesOnly()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), "default");

        var labelled = await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Patch("""{"metadata":{"labels":{"x":"1"}}}""", V1Patch.PatchType.MergePatch), "web", "default");
        var changed = await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Patch("""{"spec":{"paused":true}}""", V1Patch.PatchType.MergePatch), "web", "default");

        Assert.Equal(1, labelled.Metadata.Generation);
        Assert.Equal(2, changed.Metadata.Generation);
    }

    [Fact]
    public async Task ScaleSubresource_OnDeployment_ReadsAndWritesReplicas()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web", replicas: 2), "default");
        await t.Client.AppsV1.PatchNamespacedDeploymentStatusAsync(Patch("""{"status":{"replicas":2}}""", V1Patch.PatchType.MergePatch), "web", "default");

        var scale = await t.Client.AppsV1.ReadNamespacedDeploymentScaleAsync("web", "default");
        var readReplicas = scale.Spec.Replicas;
        scale.Spec.Replicas = 5;
        var replaced = await t.Client.AppsV1.ReplaceNamespacedDeploymentScaleAsync(scale, "web", "default");
        var patched = await t.Client.AppsV1.PatchNamespacedDeploymentScaleAsync(Patch("""{"spec":{"replicas":7}}""", V1Patch.PatchType.MergePatch), "web", "default");
        var stale = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.AppsV1.ReplaceNamespacedDeploymentScaleAsync(scale, "web", "default"));
        var negative = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.AppsV1.PatchNamespacedDeploymentScaleAsync(
            Patch("""{"spec":{"replicas":-1}}""", V1Patch.PatchType.MergePatch), "web", "default"));

        Assert.Equal(2, readReplicas);
        Assert.Equal(2, scale.Status.Replicas);
        Assert.Equal("app=web", scale.Status.Selector);
        Assert.Equal(5, replaced.Spec.Replicas);
        Assert.Equal(7, patched.Spec.Replicas);
        Assert.Equal(7, (await t.Client.AppsV1.ReadNamespacedDeploymentAsync("web", "default")).Spec.Replicas);
        Assert.Equal(HttpStatusCode.Conflict, stale.Response.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, negative.Response.StatusCode);
    }

    [Fact]
    public async Task ScaleSubresource_OnStatefulSetAndReplicaSet_Works()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var d = Deployment("db");
        await t.Client.AppsV1.CreateNamespacedStatefulSetAsync(new V1StatefulSet
        {
            Metadata = new V1ObjectMeta { Name = "db" },
            Spec = new V1StatefulSetSpec { Selector = d.Spec.Selector, Template = d.Spec.Template, ServiceName = "db" },
        }, "default");
        await t.Client.AppsV1.CreateNamespacedReplicaSetAsync(new V1ReplicaSet
        {
            Metadata = new V1ObjectMeta { Name = "db" },
            Spec = new V1ReplicaSetSpec { Selector = d.Spec.Selector, Template = d.Spec.Template, Replicas = 2 },
        }, "default");

        var sts = await t.Client.AppsV1.PatchNamespacedStatefulSetScaleAsync(Patch("""{"spec":{"replicas":3}}""", V1Patch.PatchType.MergePatch), "db", "default");
        var rs = await t.Client.AppsV1.ReadNamespacedReplicaSetScaleAsync("db", "default");

        Assert.Equal(3, sts.Spec.Replicas);
        var stored = await t.Client.AppsV1.ReadNamespacedStatefulSetAsync("db", "default");
        Assert.Equal(3, stored.Spec.Replicas);
        Assert.Equal(2, stored.Metadata.Generation);
        Assert.Equal(2, rs.Spec.Replicas);
    }

    [Fact]
    public async Task Workload_WithSelectorNotMatchingTemplate_Is422()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var d = Deployment("web");
        d.Spec.Template.Metadata.Labels["app"] = "other";

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.AppsV1.CreateNamespacedDeploymentAsync(d, "default"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        Assert.Contains("spec.template.metadata.labels", e.Response.Content, StringComparison.Ordinal);
    }
}
