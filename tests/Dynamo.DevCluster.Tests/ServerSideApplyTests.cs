using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Tests.Infrastructure;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests;

/// <summary>Server-side apply through KubernetesClient: create, field removal, conflicts between appliers, force.</summary>
public sealed class ServerSideApplyTests(ITestOutputHelper output)
{
    private static V1Patch Apply(string json) => new(json, V1Patch.PatchType.ApplyPatch);

    private static string Deployment(int replicas, string labels, string containers) =>
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\",\"labels\":{" + labels + "}},"
        + "\"spec\":{\"replicas\":" + replicas + ",\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
        + "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[" + containers + "]}}}}";

    [Fact]
    public async Task Apply_CreatesThenUpdates_AndRemovesWhatTheManagerStoppedApplying()
    {
        await using var t = await TestApiServer.StartAsync(output);

        var created = await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Apply(Deployment(2, "\"a\":\"1\",\"b\":\"2\"",
            """{"name":"main","image":"dynamo:1"},{"name":"side","image":"side:1"}""")), "web", "default", fieldManager: "operator");
        var updated = await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Apply(Deployment(3, "\"a\":\"1\"",
            """{"name":"main","image":"dynamo:2"}""")), "web", "default", fieldManager: "operator");

        var same = await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Apply(Deployment(3, "\"a\":\"1\"",
            """{"name":"main","image":"dynamo:2"}""")), "web", "default", fieldManager: "operator");

        Assert.Equal(updated.Metadata.ResourceVersion, same.Metadata.ResourceVersion);
        Assert.Equal(2, created.Spec.Replicas);
        var entry = Assert.Single(created.Metadata.ManagedFields);
        Assert.Equal(("operator", "Apply"), (entry.Manager, entry.Operation));
        Assert.Equal(3, updated.Spec.Replicas);
        Assert.Equal(new Dictionary<string, string> { ["a"] = "1" }, updated.Metadata.Labels);
        Assert.Equal("main=dynamo:2", string.Join(",", updated.Spec.Template.Spec.Containers.Select(c => $"{c.Name}={c.Image}")));
    }

    [Fact]
    public async Task Apply_KeepsFieldsOtherWritersSet_ThatItNeverApplied()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Apply(Deployment(2, "\"a\":\"1\"", """{"name":"main","image":"dynamo:1"}""")),
            "web", "default", fieldManager: "operator");
        await t.Client.AppsV1.PatchNamespacedDeploymentAsync(new V1Patch("""{"metadata":{"annotations":{"note":"by hand"}}}""", V1Patch.PatchType.MergePatch), "web", "default");

        var again = await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Apply(Deployment(2, "\"a\":\"1\"", """{"name":"main","image":"dynamo:1"}""")),
            "web", "default", fieldManager: "operator");

        Assert.Equal("by hand", again.Metadata.Annotations["note"]);
    }

    [Fact]
    public async Task TwoAppliers_DisagreeingOnAField_Conflict_UnlessForced()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Apply(Deployment(2, "\"a\":\"1\"", """{"name":"main","image":"dynamo:1"}""")),
            "web", "default", fieldManager: "operator");
        const string scaler = """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":5}}""";
        const string agreeing = """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"1"}}}""";

        var conflict = await Assert.ThrowsAsync<HttpOperationException>(() =>
            t.Client.AppsV1.PatchNamespacedDeploymentAsync(Apply(scaler), "web", "default", fieldManager: "planner"));
        await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Apply(agreeing), "web", "default", fieldManager: "labeller");
        var forced = await t.Client.AppsV1.PatchNamespacedDeploymentAsync(Apply(scaler), "web", "default", fieldManager: "planner", force: true);
        // The operator no longer owns replicas: re-applying its manifest does not fight the planner over them...
        var conflictBack = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.AppsV1.PatchNamespacedDeploymentAsync(
            Apply(Deployment(2, "\"a\":\"1\"", """{"name":"main","image":"dynamo:1"}""")), "web", "default", fieldManager: "operator"));

        Assert.Equal(HttpStatusCode.Conflict, conflict.Response.StatusCode);
        var cause = JsonDocument.Parse(conflict.Response.Content).RootElement.GetProperty("details").GetProperty("causes")[0];
        Assert.Equal(".spec.replicas", cause.GetProperty("field").GetString());
        Assert.Equal("conflict with \"operator\"", cause.GetProperty("message").GetString());
        Assert.Equal(5, forced.Spec.Replicas);
        Assert.Equal(["labeller", "operator", "planner"], forced.Metadata.ManagedFields.Select(m => m.Manager).Order().ToArray());
        Assert.Equal(HttpStatusCode.Conflict, conflictBack.Response.StatusCode);
        Assert.Contains("planner", conflictBack.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_ToACustomResource_ValidatesAgainstTheSchema()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.ApiextensionsV1.CreateCustomResourceDefinitionAsync(KubernetesJson.Deserialize<V1CustomResourceDefinition>(CustomResourceTests.GraphCrd));
        const string graph = """{"apiVersion":"test.dynamo.dev/v1alpha1","kind":"Graph","metadata":{"name":"g"},"spec":{"model":"llama","replicas":REPLICAS}}""";

        var created = JsonNode.Parse(JsonSerializer.Serialize(await t.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            Apply(graph.Replace("REPLICAS", "2", StringComparison.Ordinal)), "test.dynamo.dev", "v1alpha1", "default", "graphs", "g", fieldManager: "op")))!;
        var invalid = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            Apply(graph.Replace("REPLICAS", "-1", StringComparison.Ordinal)), "test.dynamo.dev", "v1alpha1", "default", "graphs", "g", fieldManager: "op"));
        var noManager = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            Apply(graph.Replace("REPLICAS", "1", StringComparison.Ordinal)), "test.dynamo.dev", "v1alpha1", "default", "graphs", "g"));

        Assert.Equal(2, (int)created["spec"]!["replicas"]!);
        Assert.Equal("agg", (string?)created["spec"]!["mode"]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid.Response.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, noManager.Response.StatusCode);
    }
}
