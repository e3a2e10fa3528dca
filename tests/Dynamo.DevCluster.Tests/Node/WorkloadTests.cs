using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Controllers;
using Dynamo.DevCluster.Store;
using Dynamo.DevCluster.Tests.Infrastructure;
using k8s;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests.Node;

/// <summary>
/// The controllers and the node agent with real processes (nats-server pods start in milliseconds): Deployments
/// scaled with kubectl, deleted pods replaced, template changes rolled, NodePort and cluster IP Services proxied.
/// </summary>
public sealed class WorkloadTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    internal static List<JsonObject> Pods(TestCluster c, string app, bool includeDeleting = false) =>
        c.List("v1", "Pod", p => JsonPaths.GetString(p, "metadata.labels.app") == app && (includeDeleting || !Objects.IsDeleting(p)));

    internal static int ReadyPods(TestCluster c, string app) => Pods(c, app).Count(Objects.IsPodReady);

    [Fact]
    public async Task Deployment_BecomesReady_ScalesWithKubectl_AndADeletedPodIsReplaced()
    {
        await using var c = await TestCluster.StartAsync(output);
        c.Create("apps/v1", "Deployment", Manifests.Deployment("nats", 2, Manifests.NatsContainer()));

        await c.WaitAsync("2 ready nats pods and the Deployment's status says so", () =>
            ReadyPods(c, "nats") == 2 && c.Get("apps/v1", "Deployment", "nats") is { } d
            && JsonPaths.GetLong(d, "status.readyReplicas") == 2 && JsonPaths.GetLong(d, "status.availableReplicas") == 2, Timeout);
        var deployment = c.Get("apps/v1", "Deployment", "nats")!;
        Assert.Equal(JsonPaths.GetLong(deployment, "metadata.generation"), JsonPaths.GetLong(deployment, "status.observedGeneration"));
        Assert.Equal(2, JsonPaths.GetLong(deployment, "status.updatedReplicas"));
        var available = (JsonPaths.Get(deployment, "status.conditions") as JsonArray)!.OfType<JsonObject>().Single(x => (string?)x["type"] == "Available");
        Assert.Equal("True", (string?)available["status"]);
        var pods = Pods(c, "nats");
        Assert.All(pods, p =>
        {
            Assert.Equal("devcluster-node", JsonPaths.GetString(p, "spec.nodeName"));
            Assert.StartsWith("127.244.", JsonPaths.GetString(p, "status.podIP"));
            Assert.Equal("127.0.0.1", JsonPaths.GetString(p, "status.hostIP"));
            Assert.Equal("ReplicaSet", (string?)((JsonArray)JsonPaths.Get(p, "metadata.ownerReferences")!)[0]!["kind"]);
            Assert.NotNull(JsonPaths.GetString(p, "metadata.labels.pod-template-hash"));
        });
        Assert.Equal(2, pods.Select(p => JsonPaths.GetString(p, "status.podIP")).Distinct().Count());

        var get = await Kubectl.RunAsync(c.Kubeconfig, c.Directory, "get", "pods");
        Assert.True(get.ExitCode == 0, get.All);
        foreach (var p in pods) Assert.Matches($@"{Objects.Name(p)}\s+1/1\s+Running\s+0", get.Stdout);

        var up = await Kubectl.RunAsync(c.Kubeconfig, c.Directory, "scale", "deployment", "nats", "--replicas=3");
        Assert.True(up.ExitCode == 0, up.All);
        await c.WaitAsync("3 ready pods after kubectl scale --replicas=3", () => ReadyPods(c, "nats") == 3
            && JsonPaths.GetLong(c.Get("apps/v1", "Deployment", "nats"), "status.readyReplicas") == 3, Timeout);

        var down = await Kubectl.RunAsync(c.Kubeconfig, c.Directory, "scale", "deployment", "nats", "--replicas=1");
        Assert.True(down.ExitCode == 0, down.All);
        await c.WaitAsync("1 pod left (the others' processes stopped and the pods deleted) after --replicas=1",
            () => Pods(c, "nats", includeDeleting: true).Count == 1 && ReadyPods(c, "nats") == 1, Timeout);
        Assert.Single(c.Host.Node.ProcessIds);

        var victim = Pods(c, "nats").Single();
        var victimPid = c.Host.Node.ProcessIds.Single();
        await c.Client.CoreV1.DeleteNamespacedPodAsync(Objects.Name(victim), "default");
        await c.WaitAsync("the deleted pod replaced by a new ready one, and the old one gone",
            () => ReadyPods(c, "nats") == 1 && Pods(c, "nats", includeDeleting: true).Count == 1 && Objects.Uid(Pods(c, "nats")[0]) != Objects.Uid(victim), Timeout);
        Assert.False(TestCluster.IsAlive(victimPid), "the deleted pod's process is gone");
        var events = c.List("v1", "Event", e => JsonPaths.GetString(e, "involvedObject.name") == Objects.Name(victim)).Select(e => (string?)e["reason"]).ToList();
        Assert.Contains("Scheduled", events);
        Assert.Contains("Started", events);
        Assert.Contains("Killing", events);
        Assert.Contains("ImageIgnored", events);

        var metrics = await ScrapeAsync(c);
        Assert.Matches(@"dynamo_devcluster_node_pods\{phase=""Running""\} 1\n", metrics);
        Assert.Matches(@"dynamo_devcluster_node_container_starts_total ([4-9]|\d\d)\n", metrics);
        Assert.Matches(@"dynamo_devcluster_controller_passes_total [1-9]\d*\n", metrics);
    }

    [Fact]
    public async Task StatefulSet_CreatesStableNamesInOrder_ScalesDownFromTheTop_AndRecreatesADeletedPodUnderItsName()
    {
        await using var c = await TestCluster.StartAsync(output);
        var sts = new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "db", ["namespace"] = "default" },
            ["spec"] = new JsonObject
            {
                ["replicas"] = 3,
                ["serviceName"] = "db",
                ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = "db" } },
                ["template"] = new JsonObject
                {
                    ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = "db" } },
                    ["spec"] = new JsonObject { ["containers"] = new JsonArray(Manifests.NatsContainer()), ["terminationGracePeriodSeconds"] = 5 },
                },
            },
        };
        c.Create("apps/v1", "StatefulSet", sts);
        await c.WaitAsync("db-0, db-1, db-2 ready", () => ReadyPods(c, "db") == 3
            && JsonPaths.GetLong(c.Get("apps/v1", "StatefulSet", "db"), "status.readyReplicas") == 3, Timeout);
        Assert.Equal(["db-0", "db-1", "db-2"], Pods(c, "db").Select(Objects.Name).Order());
        // OrderedReady: each pod was created once the one before it was ready.
        var created = c.List("v1", "Event", e => (string?)e["reason"] == "SuccessfulCreate" && JsonPaths.GetString(e, "involvedObject.name") == "db")
            .OrderBy(e => JsonPaths.GetString(e, "metadata.resourceVersion")!.PadLeft(20, '0')).Select(e => (string)e["message"]!).ToList();
        Assert.Equal(["db-0", "db-1", "db-2"], created.Select(m => m.Split(' ')[2]));
        foreach (var (later, earlier) in new[] { ("db-1", "db-0"), ("db-2", "db-1") })
        {
            var readyAt = DateTime.Parse(JsonPaths.GetString((JsonArray)JsonPaths.Get(c.Get("v1", "Pod", earlier), "status.conditions")!
                is var conds ? conds.OfType<JsonObject>().Single(x => (string?)x["type"] == "Ready") : null, "lastTransitionTime")!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(Objects.Created(c.Get("v1", "Pod", later)!) >= readyAt.ToUniversalTime().AddSeconds(-1), $"{later} created before {earlier} was ready");
        }

        var scale = await Kubectl.RunAsync(c.Kubeconfig, c.Directory, "scale", "statefulset", "db", "--replicas=1");
        Assert.True(scale.ExitCode == 0, scale.All);
        await c.WaitAsync("only db-0 left", () => Pods(c, "db", includeDeleting: true).Select(Objects.Name).SequenceEqual(["db-0"]), Timeout);
        var deletedOrder = c.List("v1", "Event", e => (string?)e["reason"] == "SuccessfulDelete" && JsonPaths.GetString(e, "involvedObject.name") == "db")
            .OrderBy(e => JsonPaths.GetString(e, "metadata.resourceVersion")!.PadLeft(20, '0')).Select(e => ((string)e["message"]!).Split(' ')[2]).ToList();
        Assert.Equal(["db-2", "db-1"], deletedOrder);

        var uid = Objects.Uid(c.Get("v1", "Pod", "db-0")!);
        await c.Client.CoreV1.DeleteNamespacedPodAsync("db-0", "default");
        await c.WaitAsync("db-0 recreated under its name and ready", () => c.Get("v1", "Pod", "db-0") is { } p && Objects.Uid(p) != uid && Objects.IsPodReady(p), Timeout);
    }

    /// <summary>The API server's /metrics, where the node agent and the controllers count too.</summary>
    internal static async Task<string> ScrapeAsync(TestCluster c)
    {
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, cert, _, _) => cert?.Thumbprint == c.Host.Server.Certificate.Thumbprint };
        using var api = new HttpClient(handler);
        return await api.GetStringAsync(new Uri(c.Host.Server.Address, "/metrics"));
    }

    [Fact]
    public async Task TemplateChange_RollsToANewReplicaSet_AndANodePortServiceReachesTheReadyPods()
    {
        await using var c = await TestCluster.StartAsync(output);
        c.Create("apps/v1", "Deployment", Manifests.Deployment("web", 2, Manifests.NatsContainer()));
        var svc = c.Create("v1", "Service", Manifests.Service("web", "web", "NodePort", ("monitor", 8222, "monitor")));
        var nodePort = JsonPaths.GetLong(((JsonArray)JsonPaths.Get(svc, "spec.ports")!)[0], "nodePort");
        var clusterIp = JsonPaths.GetString(svc, "spec.clusterIP")!;
        Assert.StartsWith("127.96.", clusterIp);
        await c.WaitAsync("2 ready pods", () => ReadyPods(c, "web") == 2, Timeout);
        await c.WaitAsync("the Endpoints list both pods as ready", () =>
            (JsonPaths.Get(c.Get("v1", "Endpoints", "web"), "subsets") as JsonArray)?.OfType<JsonObject>().Sum(s => (s["addresses"] as JsonArray)?.Count ?? 0) == 2, Timeout);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5), DefaultRequestHeaders = { ConnectionClose = true } };
        var names = new HashSet<string>();
        for (var i = 0; i < 4; i++)
        {
            // A connection per request: the proxy balances connections, not requests.
            using var once = new HttpClient { Timeout = TimeSpan.FromSeconds(5), DefaultRequestHeaders = { ConnectionClose = true } };
            var varz = await once.GetFromJsonAsync<JsonObject>($"http://127.0.0.1:{nodePort}/varz");
            names.Add((string)varz!["server_name"]!);
        }
        Assert.Equal(Pods(c, "web").Select(Objects.Name).Order(), names.Order());
        var viaClusterIp = await http.GetFromJsonAsync<JsonObject>($"http://{clusterIp}:8222/varz");
        Assert.Contains((string)viaClusterIp!["server_name"]!, names);

        var before = c.List("apps/v1", "ReplicaSet").Single();
        c.Store.Update(c.Type("apps/v1", "Deployment"), "default", "web", d =>
        {
            var container = (JsonObject)JsonPaths.Get(d, "spec.template.spec.containers")!.AsArray()[0]!;
            container["env"]!.AsArray().Add(new JsonObject { ["name"] = "VERSION", ["value"] = "2" });
            d["metadata"]!.AsObject().Remove("resourceVersion");
            return d;
        });
        await c.WaitAsync("the rollout finished: a second ReplicaSet with 2 ready pods, the first at 0, no old pod left", () =>
        {
            var sets = c.List("apps/v1", "ReplicaSet");
            var d = c.Get("apps/v1", "Deployment", "web")!;
            return sets.Count == 2
                && sets.Single(s => Objects.Uid(s) == Objects.Uid(before)) is var old && JsonPaths.GetLong(old, "spec.replicas") == 0
                && Pods(c, "web", includeDeleting: true).Count == 2 && ReadyPods(c, "web") == 2
                && Pods(c, "web").All(p => JsonPaths.GetString(p, "metadata.labels.pod-template-hash") != JsonPaths.GetString(before, "metadata.labels.pod-template-hash"))
                && JsonPaths.GetLong(d, "status.updatedReplicas") == 2 && JsonPaths.GetLong(d, "status.replicas") == 2
                && JsonPaths.GetLong(d, "status.observedGeneration") == JsonPaths.GetLong(d, "metadata.generation");
        }, Timeout);
        var rollout = await Kubectl.RunAsync(c.Kubeconfig, c.Directory, "rollout", "status", "deployment/web", "--timeout=20s");
        Assert.True(rollout.ExitCode == 0, rollout.All);
        Assert.Contains("deployment \"web\" successfully rolled out", rollout.Stdout);
        var newRs = c.List("apps/v1", "ReplicaSet").Single(s => Objects.Uid(s) != Objects.Uid(before));
        Assert.Equal("2", (string?)JsonPaths.Get(newRs, "metadata.annotations")!["deployment.kubernetes.io/revision"]);
        var scaling = c.List("v1", "Event", e => (string?)e["reason"] == "ScalingReplicaSet").Select(e => (string)e["message"]!).ToList();
        Assert.Contains(scaling, m => m.Contains($"Scaled down replica set {Objects.Name(before)}", StringComparison.Ordinal));

        // The proxy reads the Endpoints at each connection: the new pods answer at once.
        var newNames = Pods(c, "web").Select(Objects.Name).ToHashSet();
        await c.WaitAsync("the node port reaches the new pods", () =>
        {
            try
            {
                var varz = http.GetFromJsonAsync<JsonObject>($"http://127.0.0.1:{nodePort}/varz").GetAwaiter().GetResult();
                return newNames.Contains((string)varz!["server_name"]!);
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, Timeout);
        Assert.Matches(@"dynamo_devcluster_node_proxy_connections_total\{result=""forwarded""\} ([5-9]|\d\d)\n", await ScrapeAsync(c));
    }
}
