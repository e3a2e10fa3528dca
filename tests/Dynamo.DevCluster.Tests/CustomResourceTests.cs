using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Tests.Infrastructure;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests;

/// <summary>CustomResourceDefinitions registered at run time: discovery, schema validation, defaults, pruning, subresources, Tables.</summary>
public sealed class CustomResourceTests(ITestOutputHelper output)
{
    private const string Group = "test.dynamo.dev";
    private const string Version = "v1alpha1";
    private const string Plural = "graphs";

    internal const string GraphCrd = """
        {
          "apiVersion": "apiextensions.k8s.io/v1",
          "kind": "CustomResourceDefinition",
          "metadata": {"name": "graphs.test.dynamo.dev"},
          "spec": {
            "group": "test.dynamo.dev",
            "scope": "Namespaced",
            "names": {"plural": "graphs", "singular": "graph", "kind": "Graph", "shortNames": ["gr"], "categories": ["dynamo"]},
            "versions": [{
              "name": "v1alpha1", "served": true, "storage": true,
              "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
              "additionalPrinterColumns": [
                {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}
              ],
              "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                  "spec": {
                    "type": "object",
                    "required": ["model"],
                    "properties": {
                      "model": {"type": "string", "minLength": 1, "maxLength": 64},
                      "replicas": {"type": "integer", "minimum": 0, "default": 1},
                      "mode": {"type": "string", "enum": ["agg", "disagg"], "default": "agg"},
                      "port": {"x-kubernetes-int-or-string": true},
                      "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                      "components": {
                        "type": "object",
                        "additionalProperties": {
                          "type": "object",
                          "properties": {
                            "replicas": {"type": "integer", "minimum": 0},
                            "image": {"type": "string", "pattern": "^[a-z0-9./:-]+$"}
                          }
                        }
                      }
                    }
                  },
                  "status": {
                    "type": "object",
                    "properties": {
                      "replicas": {"type": "integer"},
                      "selector": {"type": "string"},
                      "observedGeneration": {"type": "integer"},
                      "conditions": {"type": "array", "items": {"type": "object", "properties": {"type": {"type": "string"}, "status": {"type": "string"}}}}
                    }
                  }
                }
              }}
            }]
          }
        }
        """;

    private static async Task<V1CustomResourceDefinition> CreateCrdAsync(TestApiServer t, string json = GraphCrd) =>
        await t.Client.ApiextensionsV1.CreateCustomResourceDefinitionAsync(KubernetesJson.Deserialize<V1CustomResourceDefinition>(json));

    private static JsonObject Graph(string name, string spec) => new()
    {
        ["apiVersion"] = $"{Group}/{Version}",
        ["kind"] = "Graph",
        ["metadata"] = new JsonObject { ["name"] = name },
        ["spec"] = JsonNode.Parse(spec),
    };

    private static async Task<JsonObject> CreateGraphAsync(TestApiServer t, string name, string spec, string? fieldValidation = null)
    {
        var created = await t.Client.CustomObjects.CreateNamespacedCustomObjectAsync(Graph(name, spec), Group, Version, "default", Plural, fieldValidation: fieldValidation);
        return JsonNode.Parse(JsonSerializer.Serialize(created))!.AsObject();
    }

    [Fact]
    public async Task CreatingACrd_SetsEstablishedAndNamesAccepted_AndServesTheResourceInDiscovery()
    {
        await using var t = await TestApiServer.StartAsync(output);

        var crd = await CreateCrdAsync(t);
        using var http = t.Http();
        var resources = JsonNode.Parse(await http.GetStringAsync($"/apis/{Group}/{Version}"))!;
        var groups = JsonNode.Parse(await http.GetStringAsync("/apis"))!;

        Assert.Equal("True", crd.Status.Conditions.Single(c => c.Type == "Established").Status);
        Assert.Equal("True", crd.Status.Conditions.Single(c => c.Type == "NamesAccepted").Status);
        Assert.Equal("GraphList", crd.Status.AcceptedNames.ListKind);
        Assert.Equal([Version], crd.Status.StoredVersions);
        var names = resources["resources"]!.AsArray().Select(r => (string?)r!["name"]).ToList();
        Assert.Equal(["graphs", "graphs/status", "graphs/scale"], names);
        Assert.Equal("gr", (string?)resources["resources"]![0]!["shortNames"]![0]);
        Assert.Contains(groups["groups"]!.AsArray(), g => (string?)g!["name"] == Group);
    }

    [Fact]
    public async Task CustomResource_GetsDefaults_AndUnknownFieldsArePruned()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await CreateCrdAsync(t);

        var created = await CreateGraphAsync(t, "g", """{"model":"llama","bogus":1,"config":{"free":{"form":true}},"port":"http","components":{"decode":{"replicas":2,"extra":"x"}}}""");

        var spec = created["spec"]!;
        Assert.Equal(1, (int)spec["replicas"]!);
        Assert.Equal("agg", (string?)spec["mode"]);
        Assert.Null(spec["bogus"]);
        Assert.Null(spec["components"]!["decode"]!["extra"]);
        Assert.True((bool)spec["config"]!["free"]!["form"]!);
        Assert.Equal("http", (string?)spec["port"]);
    }

    [Fact]
    public async Task CustomResource_UnknownFieldWithStrictValidation_Is400NamingTheField()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await CreateCrdAsync(t);

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => CreateGraphAsync(t, "g", """{"model":"llama","bogus":1}""", fieldValidation: "Strict"));

        Assert.Equal(HttpStatusCode.BadRequest, e.Response.StatusCode);
        Assert.Contains("unknown field \\\"spec.bogus\\\"", e.Response.Content.Replace("\\u0022", "\\\"", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"model":"llama","components":{"decode":{"replicas":-1}}}""", "spec.components.decode.replicas", "greater than or equal to 0")]
    [InlineData("""{"model":"llama","components":{"decode":{"replicas":"two"}}}""", "spec.components.decode.replicas", "must be of type integer")]
    [InlineData("""{"replicas":1}""", "spec.model", "Required value")]
    [InlineData("""{"model":"llama","mode":"mixed"}""", "spec.mode", "supported values")]
    [InlineData("""{"model":""}""", "spec.model", "at least 1 chars long")]
    [InlineData("""{"model":"llama","components":{"prefill":{"image":"Bad Image!"}}}""", "spec.components.prefill.image", "should match")]
    [InlineData("""{"model":"llama","port":1.5}""", "spec.port", "integer or string")]
    public async Task CustomResource_Invalid_Is422WithTheFieldPath(string spec, string field, string message)
    {
        await using var t = await TestApiServer.StartAsync(output);
        await CreateCrdAsync(t);

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => CreateGraphAsync(t, "g", spec));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        var status = JsonDocument.Parse(e.Response.Content).RootElement;
        Assert.Equal("Invalid", status.GetProperty("reason").GetString());
        var cause = status.GetProperty("details").GetProperty("causes")[0];
        Assert.Equal(field, cause.GetProperty("field").GetString());
        Assert.Contains(message, cause.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains(field, status.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CustomResource_PatchIsValidatedToo_AndStrategicMergeIsRefused()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await CreateCrdAsync(t);
        await CreateGraphAsync(t, "g", """{"model":"llama"}""");

        var invalid = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"spec":{"replicas":-3}}""", V1Patch.PatchType.MergePatch), Group, Version, "default", Plural, "g"));
        var strategic = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"spec":{"replicas":3}}""", V1Patch.PatchType.StrategicMergePatch), Group, Version, "default", Plural, "g"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid.Response.StatusCode);
        Assert.Contains("spec.replicas", invalid.Response.Content, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, strategic.Response.StatusCode);
    }

    [Fact]
    public async Task CustomResource_StatusAndScaleSubresources()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await CreateCrdAsync(t);
        await CreateGraphAsync(t, "g", """{"model":"llama","replicas":2}""");

        await t.Client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(new V1Patch(
            """{"status":{"replicas":2,"selector":"app=g","conditions":[{"type":"Ready","status":"True"}]},"spec":{"replicas":9}}""",
            V1Patch.PatchType.MergePatch), Group, Version, "default", Plural, "g");
        // A main-resource write does not touch status.
        await t.Client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"status":{"replicas":0}}""", V1Patch.PatchType.MergePatch), Group, Version, "default", Plural, "g");
        var scale = JsonNode.Parse(JsonSerializer.Serialize(await t.Client.CustomObjects.GetNamespacedCustomObjectScaleAsync(Group, Version, "default", Plural, "g")))!;
        await t.Client.CustomObjects.PatchNamespacedCustomObjectScaleAsync(new V1Patch("""{"spec":{"replicas":4}}""", V1Patch.PatchType.MergePatch), Group, Version, "default", Plural, "g");
        var graph = JsonNode.Parse(JsonSerializer.Serialize(await t.Client.CustomObjects.GetNamespacedCustomObjectAsync(Group, Version, "default", Plural, "g")))!;

        Assert.Equal("Scale", (string?)scale["kind"]);
        Assert.Equal(2, (int)scale["spec"]!["replicas"]!);
        Assert.Equal(2, (int)scale["status"]!["replicas"]!);
        Assert.Equal("app=g", (string?)scale["status"]!["selector"]);
        Assert.Equal(4, (int)graph["spec"]!["replicas"]!);
        Assert.Equal(2, (int)graph["status"]!["replicas"]!);
        Assert.Equal(2, (int)graph["metadata"]!["generation"]!);
    }

    [Fact]
    public async Task Table_ForACustomResource_HasNameAndPrinterColumns()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await CreateCrdAsync(t);
        await CreateGraphAsync(t, "g", """{"model":"llama","replicas":3}""");
        await t.Client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(new V1Patch(
            """{"status":{"conditions":[{"type":"Ready","status":"True"}]}}""", V1Patch.PatchType.MergePatch), Group, Version, "default", Plural, "g");
        using var http = t.Http();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/apis/{Group}/{Version}/namespaces/default/{Plural}");
        request.Headers.TryAddWithoutValidation("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");

        using var answer = await http.SendAsync(request);
        var table = JsonNode.Parse(await answer.Content.ReadAsStringAsync())!;

        Assert.Equal("Table", (string?)table["kind"]);
        Assert.Equal("Name,Replicas,Ready", string.Join(",", table["columnDefinitions"]!.AsArray().Select(c => (string?)c!["name"])));
        var cells = table["rows"]![0]!["cells"]!.AsArray();
        Assert.Equal("g", (string?)cells[0]);
        Assert.Equal(3, (int)cells[1]!);
        Assert.Equal("True", (string?)cells[2]);
        Assert.Equal("PartialObjectMetadata", (string?)table["rows"]![0]!["object"]!["kind"]);
    }

    [Fact]
    public async Task DeletingTheCrd_RemovesItsObjectsAndItsResource()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await CreateCrdAsync(t);
        await CreateGraphAsync(t, "g", """{"model":"llama"}""");

        await t.Client.ApiextensionsV1.DeleteCustomResourceDefinitionAsync("graphs.test.dynamo.dev");
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CustomObjects.ListNamespacedCustomObjectAsync(Group, Version, "default", Plural));
        await CreateCrdAsync(t);
        var list = JsonNode.Parse(JsonSerializer.Serialize(await t.Client.CustomObjects.ListNamespacedCustomObjectAsync(Group, Version, "default", Plural)))!;

        Assert.Equal(HttpStatusCode.NotFound, e.Response.StatusCode);
        Assert.Empty(list["items"]!.AsArray());
    }

    [Fact]
    public async Task DeletingTheCrd_WaitsForItsObjectsFinalizers_AndRefusesNewObjectsMeanwhile()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var crd = await CreateCrdAsync(t);
        var graph = Graph("g", """{"model":"llama"}""");
        graph["metadata"]!["finalizers"] = new JsonArray("dynamo.dev/operator");
        await t.Client.CustomObjects.CreateNamespacedCustomObjectAsync(graph, Group, Version, "default", Plural);

        await t.Client.ApiextensionsV1.DeleteCustomResourceDefinitionAsync("graphs.test.dynamo.dev");
        var terminating = await t.Client.ApiextensionsV1.ReadCustomResourceDefinitionAsync("graphs.test.dynamo.dev");
        var held = JsonNode.Parse(JsonSerializer.Serialize(await t.Client.CustomObjects.GetNamespacedCustomObjectAsync(Group, Version, "default", Plural, "g")))!;
        var refused = await Assert.ThrowsAsync<HttpOperationException>(() => CreateGraphAsync(t, "h", """{"model":"llama"}"""));
        // The operator lets its object go: the object, then the CRD, disappear.
        await t.Client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"metadata":{"finalizers":null}}""", V1Patch.PatchType.MergePatch), Group, Version, "default", Plural, "g");
        var gone = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.ApiextensionsV1.ReadCustomResourceDefinitionAsync("graphs.test.dynamo.dev"));

        Assert.Contains("customresourcecleanup.apiextensions.k8s.io", crd.Metadata.Finalizers);
        Assert.NotNull(terminating.Metadata.DeletionTimestamp);
        Assert.NotNull(held["metadata"]!["deletionTimestamp"]);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, refused.Response.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
    }

    [Fact]
    public async Task ClusterScopedCrd_ServesObjectsWithoutNamespace()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var json = GraphCrd.Replace("\"Namespaced\"", "\"Cluster\"", StringComparison.Ordinal);
        await CreateCrdAsync(t, json);

        var created = await t.Client.CustomObjects.CreateClusterCustomObjectAsync(Graph("g", """{"model":"llama"}"""), Group, Version, Plural);
        var got = JsonNode.Parse(JsonSerializer.Serialize(await t.Client.CustomObjects.GetClusterCustomObjectAsync(Group, Version, Plural, "g")))!;

        Assert.NotNull(created);
        Assert.Null(got["metadata"]!["namespace"]);
        Assert.Equal("llama", (string?)got["spec"]!["model"]);
    }

    [Fact]
    public async Task InvalidCrd_Is422NamingTheField()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var json = GraphCrd.Replace("\"name\": \"graphs.test.dynamo.dev\"", "\"name\": \"wrong.test.dynamo.dev\"", StringComparison.Ordinal)
            .Replace("\"minimum\": 0, \"default\": 1", "\"minimum\": 0, \"default\": 1, \"x-kubernetes-validations\": [{\"rule\": \"self > 0\"}]", StringComparison.Ordinal);

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => CreateCrdAsync(t, json));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        var fields = JsonDocument.Parse(e.Response.Content).RootElement.GetProperty("details").GetProperty("causes").EnumerateArray()
            .Select(c => c.GetProperty("field").GetString()).ToList();
        Assert.Contains("metadata.name", fields);
        Assert.Contains("spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[replicas].x-kubernetes-validations", fields);
    }

    [Fact]
    public async Task InvalidPrinterColumnAndPreserveUnknownFields_AreRefused()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var json = GraphCrd.Replace("\"jsonPath\": \".spec.replicas\"", "\"jsonPath\": \".spec[?(@.x>1)]\"", StringComparison.Ordinal)
            .Replace("\"scope\": \"Namespaced\",", "\"scope\": \"Namespaced\", \"preserveUnknownFields\": true,", StringComparison.Ordinal);

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => CreateCrdAsync(t, json));

        var fields = JsonDocument.Parse(e.Response.Content).RootElement.GetProperty("details").GetProperty("causes").EnumerateArray()
            .Select(c => c.GetProperty("field").GetString()).ToList();
        Assert.Equal(["spec.preserveUnknownFields", "spec.versions[0].additionalPrinterColumns[0].jsonPath"], fields);
    }

    [Fact]
    public async Task DeprecatedVersion_AnswersWithAWarningHeader()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await CreateCrdAsync(t, GraphCrd.Replace("\"served\": true, \"storage\": true,", "\"served\": true, \"storage\": true, \"deprecated\": true, \"deprecationWarning\": \"use v1\",", StringComparison.Ordinal));
        using var http = t.Http();

        using var answer = await http.GetAsync($"/apis/{Group}/{Version}/namespaces/default/{Plural}");

        Assert.True(answer.IsSuccessStatusCode);
        Assert.Equal("299 - \"use v1\"", Assert.Single(answer.Headers.GetValues("Warning")));
    }

    [Fact]
    public async Task WatchOfCustomResources_SeesChanges()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await CreateCrdAsync(t);
        var list = JsonNode.Parse(JsonSerializer.Serialize(await t.Client.CustomObjects.ListNamespacedCustomObjectAsync(Group, Version, "default", Plural)))!;
        var rv = (string?)list["metadata"]!["resourceVersion"];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        var seen = new List<string>();
        var watching = Task.Run(async () =>
        {
            await foreach (var (type, obj) in t.Client.CustomObjects.WatchListNamespacedCustomObjectAsync(Group, Version, "default", Plural,
                resourceVersion: rv, cancellationToken: cts.Token))
            {
                var element = JsonSerializer.SerializeToElement(obj);
                seen.Add($"{type}:{element.GetProperty("metadata").GetProperty("name").GetString()}");
                if (seen.Count == 2) return;
            }
        });
        await CreateGraphAsync(t, "g", """{"model":"llama"}""");
        await t.Client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, Version, "default", Plural, "g");
        await watching.WaitAsync(cts.Token);

        Assert.Equal(["Added:g", "Deleted:g"], seen);
    }
}
