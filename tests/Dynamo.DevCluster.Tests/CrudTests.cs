using System.Net;
using System.Text.Json;
using Dynamo.DevCluster.Tests.Infrastructure;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests;

/// <summary>Create, get, list, update and delete over HTTP through the official KubernetesClient.</summary>
public sealed class CrudTests(ITestOutputHelper output)
{
    private static V1ConfigMap ConfigMap(string name, IDictionary<string, string>? labels = null, string value = "1") => new()
    {
        Metadata = new V1ObjectMeta { Name = name, Labels = labels },
        Data = new Dictionary<string, string> { ["k"] = value },
    };

    [Fact]
    public async Task Create_SetsServerFields_AndGetReturnsTheObject()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var created = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");

        Assert.False(string.IsNullOrEmpty(created.Metadata.Uid));
        Assert.NotNull(created.Metadata.CreationTimestamp);
        Assert.Equal("default", created.Metadata.NamespaceProperty);
        Assert.Equal(1, created.Metadata.Generation);
        var got = await t.Client.CoreV1.ReadNamespacedConfigMapAsync("a", "default");
        Assert.Equal(created.Metadata.Uid, got.Metadata.Uid);
        Assert.Equal(created.Metadata.ResourceVersion, got.Metadata.ResourceVersion);
        Assert.Equal("1", got.Data["k"]);
    }

    [Fact]
    public async Task ResourceVersion_IncreasesWithEveryWrite_AcrossKinds()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var a = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        var s = await t.Client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "s" }, StringData = new Dictionary<string, string> { ["p"] = "x" } }, "default");
        a.Data["k"] = "2";
        var a2 = await t.Client.CoreV1.ReplaceNamespacedConfigMapAsync(a, "a", "default");

        var rvs = new[] { a.Metadata.ResourceVersion, s.Metadata.ResourceVersion, a2.Metadata.ResourceVersion }.Select(long.Parse).ToList();
        Assert.True(rvs[0] < rvs[1] && rvs[1] < rvs[2], string.Join(",", rvs));
        // stringData is folded into base64 data, as the real server does.
        Assert.Equal("x", System.Text.Encoding.UTF8.GetString(s.Data["p"]));
        Assert.Equal("Opaque", s.Type);
    }

    [Fact]
    public async Task Create_Twice_Is409AlreadyExists()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default"));

        Assert.Equal(HttpStatusCode.Conflict, e.Response.StatusCode);
        var status = JsonSerializer.Deserialize<V1Status>(e.Response.Content, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        Assert.Equal("AlreadyExists", status.Reason);
        Assert.Equal("Status", status.Kind);
        Assert.Equal("a", status.Details.Name);
        Assert.Equal("configmaps", status.Details.Kind);
    }

    [Fact]
    public async Task Update_WithStaleResourceVersion_Is409Conflict()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var first = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        var stale = await t.Client.CoreV1.ReadNamespacedConfigMapAsync("a", "default");
        first.Data["k"] = "2";
        await t.Client.CoreV1.ReplaceNamespacedConfigMapAsync(first, "a", "default");

        stale.Data["k"] = "3";
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.ReplaceNamespacedConfigMapAsync(stale, "a", "default"));

        Assert.Equal(HttpStatusCode.Conflict, e.Response.StatusCode);
        Assert.Contains("\"reason\":\"Conflict\"", e.Response.Content, StringComparison.Ordinal);
        Assert.Contains("the object has been modified", e.Response.Content, StringComparison.Ordinal);
        Assert.Equal("2", (await t.Client.CoreV1.ReadNamespacedConfigMapAsync("a", "default")).Data["k"]);
    }

    [Fact]
    public async Task Update_WithoutChanges_KeepsTheResourceVersion()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var created = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");

        var same = await t.Client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "a", "default");

        Assert.Equal(created.Metadata.ResourceVersion, same.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task GenerateName_PicksAUniqueName()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var body = new V1ConfigMap { Metadata = new V1ObjectMeta { GenerateName = "job-" } };

        var a = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(body, "default");
        var b = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(body, "default");

        Assert.StartsWith("job-", a.Metadata.Name, StringComparison.Ordinal);
        Assert.Equal(9, a.Metadata.Name.Length);
        Assert.NotEqual(a.Metadata.Name, b.Metadata.Name);
    }

    [Fact]
    public async Task Get_Missing_Is404NotFound_AndUnknownNamespaceRefusesCreate()
    {
        await using var t = await TestApiServer.StartAsync(output);

        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.ReadNamespacedConfigMapAsync("nope", "default"));
        var noNs = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "ghost"));

        Assert.Equal(HttpStatusCode.NotFound, missing.Response.StatusCode);
        Assert.Equal("configmaps \"nope\" not found", JsonDocument.Parse(missing.Response.Content).RootElement.GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.NotFound, noNs.Response.StatusCode);
        Assert.Contains("namespaces", noNs.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_WithInvalidName_Is422NamingMetadataName()
    {
        await using var t = await TestApiServer.StartAsync(output);

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("Not_Valid"), "default"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        var status = JsonDocument.Parse(e.Response.Content).RootElement;
        Assert.Equal("Invalid", status.GetProperty("reason").GetString());
        Assert.Equal("metadata.name", status.GetProperty("details").GetProperty("causes")[0].GetProperty("field").GetString());
    }

    [Fact]
    public async Task Create_WithInvalidMetadata_Is422NamingEachField()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var cm = ConfigMap("a", new Dictionary<string, string> { ["app"] = "not valid!" });
        cm.Metadata.OwnerReferences = [new V1OwnerReference { ApiVersion = "v1", Kind = "ConfigMap", Name = "o" }];
        cm.Metadata.Finalizers = ["bad finalizer"];

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.CreateNamespacedConfigMapAsync(cm, "default"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        var fields = JsonDocument.Parse(e.Response.Content).RootElement.GetProperty("details").GetProperty("causes").EnumerateArray()
            .Select(c => c.GetProperty("field").GetString()).ToList();
        Assert.Equal(["metadata.labels", "metadata.ownerReferences[0].uid", "metadata.finalizers[0]"], fields);
    }

    [Fact]
    public async Task ConcurrentCompareAndSwap_OnALease_ExactlyOneWriterWinsEachVersion()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoordinationV1.CreateNamespacedLeaseAsync(new V1Lease { Metadata = new V1ObjectMeta { Name = "l" }, Spec = new V1LeaseSpec { LeaseTransitions = 0 } }, "default");

        // Eight candidates each try, from the same read, to bump the transition count; then they all retry on
        // conflict until each has made one increment. Lost updates would leave the count below eight.
        var conflicts = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            while (true)
            {
                var lease = await t.Client.CoordinationV1.ReadNamespacedLeaseAsync("l", "default");
                lease.Spec.LeaseTransitions++;
                lease.Spec.HolderIdentity = $"c{i}";
                try
                {
                    await t.Client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, "l", "default");
                    return;
                }
                catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
                {
                    Interlocked.Increment(ref conflicts);
                }
            }
        }));

        Assert.Equal(8, (await t.Client.CoordinationV1.ReadNamespacedLeaseAsync("l", "default")).Spec.LeaseTransitions);
        output.WriteLine($"conflicts retried: {conflicts}");
    }

    [Fact]
    public async Task List_FiltersByEveryLabelSelectorOperator()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a", new Dictionary<string, string> { ["app"] = "web", ["tier"] = "front" }), "default");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("b", new Dictionary<string, string> { ["app"] = "web", ["tier"] = "back" }), "default");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("c", new Dictionary<string, string> { ["app"] = "db" }), "default");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("d"), "default");

        async Task<string> Names(string selector) =>
            string.Join(",", (await t.Client.CoreV1.ListNamespacedConfigMapAsync("default", labelSelector: selector)).Items.Select(i => i.Metadata.Name));

        Assert.Equal("a,b", await Names("app=web"));
        Assert.Equal("a,b", await Names("app==web"));
        Assert.Equal("c,d", await Names("app!=web"));
        Assert.Equal("a,b,c", await Names("app in (web,db)"));
        Assert.Equal("c,d", await Names("app notin (web)"));
        Assert.Equal("a,b", await Names("tier"));
        Assert.Equal("c,d", await Names("!tier"));
        Assert.Equal("b", await Names("app=web,tier=back"));
        var bad = await Assert.ThrowsAsync<HttpOperationException>(() => Names("app=(x"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.Response.StatusCode);
    }

    [Fact]
    public async Task List_FiltersByFieldSelector_AndAcrossNamespaces()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "other" } });
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "other");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("b"), "other");

        var all = await t.Client.CoreV1.ListConfigMapForAllNamespacesAsync();
        var byName = await t.Client.CoreV1.ListConfigMapForAllNamespacesAsync(fieldSelector: "metadata.name=a");
        var byNs = await t.Client.CoreV1.ListConfigMapForAllNamespacesAsync(fieldSelector: "metadata.namespace=other,metadata.name!=a");

        Assert.Equal(3, all.Items.Count);
        Assert.Equal(["default", "other"], byName.Items.Select(i => i.Metadata.NamespaceProperty).ToArray());
        Assert.Equal("b", Assert.Single(byNs.Items).Metadata.Name);
        Assert.True(long.Parse(all.Metadata.ResourceVersion) >= long.Parse(byNs.Items[0].Metadata.ResourceVersion));
    }

    [Fact]
    public async Task List_PagesWithLimitAndContinue()
    {
        await using var t = await TestApiServer.StartAsync(output);
        foreach (var n in new[] { "a", "b", "c", "d", "e" }) await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap(n), "default");

        var names = new List<string>();
        string? next = null;
        var pages = 0;
        do
        {
            var page = await t.Client.CoreV1.ListNamespacedConfigMapAsync("default", limit: 2, continueParameter: next);
            names.AddRange(page.Items.Select(i => i.Metadata.Name));
            next = page.Metadata.ContinueProperty;
            pages++;
        } while (!string.IsNullOrEmpty(next));

        Assert.Equal(["a", "b", "c", "d", "e"], names);
        Assert.Equal(3, pages);
    }

    [Fact]
    public async Task Delete_RemovesTheObject_AndPreconditionMismatchIs409()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.DeleteNamespacedConfigMapAsync("a", "default",
            new V1DeleteOptions { Preconditions = new V1Preconditions { Uid = "not-the-uid" } }));
        Assert.Equal(HttpStatusCode.Conflict, e.Response.StatusCode);

        await t.Client.CoreV1.DeleteNamespacedConfigMapAsync("a", "default");
        Assert.Empty((await t.Client.CoreV1.ListNamespacedConfigMapAsync("default")).Items);
    }

    [Fact]
    public async Task DeleteCollection_DeletesWhatTheSelectorPicks()
    {
        await using var t = await TestApiServer.StartAsync(output);
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a", new Dictionary<string, string> { ["x"] = "1" }), "default");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("b"), "default");

        await t.Client.CoreV1.DeleteCollectionNamespacedConfigMapAsync("default", labelSelector: "x=1");

        Assert.Equal("b", Assert.Single((await t.Client.CoreV1.ListNamespacedConfigMapAsync("default")).Items).Metadata.Name);
    }

    [Fact]
    public async Task DryRun_ValidatesWithoutStoring()
    {
        await using var t = await TestApiServer.StartAsync(output);

        var answer = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default", dryRun: "All");

        Assert.Equal("a", answer.Metadata.Name);
        Assert.Empty((await t.Client.CoreV1.ListNamespacedConfigMapAsync("default")).Items);
    }

    [Fact]
    public async Task Namespaces_DefaultAndKubeSystemExist_AndDeletingOneRemovesItsContent()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var names = (await t.Client.CoreV1.ListNamespaceAsync()).Items.Select(n => n.Metadata.Name).ToList();
        Assert.Contains("default", names);
        Assert.Contains("kube-system", names);

        await t.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "gone" } });
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "gone");
        await t.Client.CoreV1.DeleteNamespaceAsync("gone");

        Assert.Empty((await t.Client.CoreV1.ListConfigMapForAllNamespacesAsync(fieldSelector: "metadata.namespace=gone")).Items);
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.ReadNamespaceAsync("gone"));
        Assert.Equal(HttpStatusCode.NotFound, e.Response.StatusCode);
        var forbidden = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.DeleteNamespaceAsync("default"));
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.Response.StatusCode);
    }

    [Fact]
    public async Task Service_NodePort_GetsAPortInRange_AndAClusterIp()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var svc = new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "web" },
            Spec = new V1ServiceSpec { Type = "NodePort", Ports = [new V1ServicePort { Port = 8000 }], Selector = new Dictionary<string, string> { ["app"] = "web" } },
        };

        var created = await t.Client.CoreV1.CreateNamespacedServiceAsync(svc, "default");
        svc.Metadata.Name = "web2";
        svc.Spec.Ports[0].NodePort = created.Spec.Ports[0].NodePort;
        var clash = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoreV1.CreateNamespacedServiceAsync(svc, "default"));

        Assert.InRange(created.Spec.Ports[0].NodePort!.Value, 30000, 32767);
        Assert.False(string.IsNullOrEmpty(created.Spec.ClusterIP));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, clash.Response.StatusCode);
        Assert.Contains("spec.ports[0].nodePort", clash.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lease_LeaderElectionStyleUpdates_ConflictOnStaleVersion()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var lease = await t.Client.CoordinationV1.CreateNamespacedLeaseAsync(new V1Lease
        {
            Metadata = new V1ObjectMeta { Name = "operator" },
            Spec = new V1LeaseSpec { HolderIdentity = "a", LeaseDurationSeconds = 15, AcquireTime = DateTime.UtcNow, RenewTime = DateTime.UtcNow },
        }, "kube-system");

        // Two candidates read the same version; the first to write wins, the second gets 409 and must re-read.
        var b = await t.Client.CoordinationV1.ReadNamespacedLeaseAsync("operator", "kube-system");
        lease.Spec.RenewTime = DateTime.UtcNow;
        await t.Client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, "operator", "kube-system");
        b.Spec.HolderIdentity = "b";
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => t.Client.CoordinationV1.ReplaceNamespacedLeaseAsync(b, "operator", "kube-system"));

        Assert.Equal(HttpStatusCode.Conflict, e.Response.StatusCode);
        Assert.Equal("a", (await t.Client.CoordinationV1.ReadNamespacedLeaseAsync("operator", "kube-system")).Spec.HolderIdentity);
    }

    [Fact]
    public async Task Events_AreStoredAndSelectableByInvolvedObject()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var cm = await t.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        await t.Client.CoreV1.CreateNamespacedEventAsync(new Corev1Event
        {
            Metadata = new V1ObjectMeta { GenerateName = "a." },
            InvolvedObject = new V1ObjectReference { Kind = "ConfigMap", Name = "a", NamespaceProperty = "default", Uid = cm.Metadata.Uid },
            Reason = "Created",
            Message = "made it",
            Type = "Normal",
        }, "default");
        await t.Client.EventsV1.CreateNamespacedEventAsync(new Eventsv1Event
        {
            Metadata = new V1ObjectMeta { Name = "b.1" },
            EventTime = DateTime.UtcNow,
            ReportingController = "dynamo/operator",
            ReportingInstance = "op-1",
            Action = "Reconcile",
            Reason = "Scaled",
            Regarding = new V1ObjectReference { Kind = "ConfigMap", Name = "a", NamespaceProperty = "default" },
            Type = "Normal",
        }, "default");

        var events = await t.Client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: $"involvedObject.uid={cm.Metadata.Uid},involvedObject.kind=ConfigMap");

        Assert.Equal("made it", Assert.Single(events.Items).Message);
        Assert.Equal("Scaled", Assert.Single((await t.Client.EventsV1.ListNamespacedEventAsync("default")).Items).Reason);
    }
}
