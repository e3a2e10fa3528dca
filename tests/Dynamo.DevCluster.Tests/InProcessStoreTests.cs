using System.Text.Json.Nodes;
using Dynamo.DevCluster.Store;
using Dynamo.DevCluster.Tests.Infrastructure;
using k8s;
using k8s.Models;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests;

/// <summary>The typed in-process view (<see cref="DevApiServer.Store"/>) shares objects, versions and changes with the HTTP API.</summary>
public sealed class InProcessStoreTests(ITestOutputHelper output)
{
    [Fact]
    public async Task InProcessWrites_AreSeenOverHttp_AndHttpWrites_InTheInProcessWatch()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var store = t.Server.Store;
        var configMaps = store.Registry.FindKind("v1", "ConfigMap")!;
        var from = store.CurrentResourceVersion;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var seen = new List<string>();
        var watching = Task.Run(async () =>
        {
            await foreach (var e in store.WatchAsync(configMaps, from, cts.Token))
            {
                seen.Add($"{e.Type}:{JsonPaths.GetString(e.Object, "metadata.name")}");
                if (seen.Count == 2) return;
            }
        });

        store.Create(configMaps, "default", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "inproc" }, ["data"] = new JsonObject { ["k"] = "v" } });
        var overHttp = await t.Client.CoreV1.ReadNamespacedConfigMapAsync("inproc", "default");
        await t.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "http" } }, "default");
        await watching.WaitAsync(cts.Token);

        Assert.Equal("v", overHttp.Data["k"]);
        Assert.Equal(["ADDED:inproc", "ADDED:http"], seen);
        Assert.True(store.TryGet(configMaps, "default", "http", out var got));
        Assert.Equal("ConfigMap", JsonPaths.GetString(got, "kind"));
    }

    [Fact]
    public async Task Kubeconfig_IsReadableByItsOwnerOnly_AndNamesTheServer()
    {
        await using var t = await TestApiServer.StartAsync(output);

        var text = await File.ReadAllTextAsync(t.Kubeconfig);

        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(t.Kubeconfig));
        Assert.Contains($"server: https://127.0.0.1:{t.Address.Port}", text, StringComparison.Ordinal);
        Assert.Contains($"token: {t.Server.BearerToken}", text, StringComparison.Ordinal);
        Assert.Contains("certificate-authority-data: ", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InProcessUpdate_WithStaleVersion_Is409()
    {
        await using var t = await TestApiServer.StartAsync(output);
        var store = t.Server.Store;
        var leases = store.Registry.FindKind("coordination.k8s.io/v1", "Lease")!;
        var created = store.Create(leases, "default", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "l" }, ["spec"] = new JsonObject { ["holderIdentity"] = "a" } });
        store.Update(leases, "default", "l", o =>
        {
            o["spec"]!["holderIdentity"] = "b";
            return o;
        });

        var e = Assert.Throws<ApiException>(() => store.Update(leases, "default", "l", _ =>
        {
            created["spec"]!["holderIdentity"] = "c";
            return created;
        }));

        Assert.Equal(409, e.Code);
        Assert.Equal("b", JsonPaths.GetString(store.Get(leases, "default", "l"), "spec.holderIdentity"));
    }
}
