using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Controllers;
using Dynamo.DevCluster.Store;
using Dynamo.DevCluster.Tests.Infrastructure;
using Dynamo.Engine.Model;
using Dynamo.Runtime.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests.Node;

/// <summary>
/// The operator's kind of pods: the managed NATS as a StatefulSet running <c>nats-server --jetstream</c> behind a
/// Service, and <c>dynamo worker</c> pods that reach it by the Service's cluster DNS name, take the cluster secret
/// from a Secret and configuration from a ConfigMap, and report ready through their /health probe.
/// </summary>
public sealed class DynamoPodsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task DynamoWorkers_ReachStatefulSetNats_ByServiceDnsName_BecomeReady_AndAKilledProcessIsRestarted()
    {
        await using var c = await TestCluster.StartAsync(output);
        var model = Path.Combine(c.Directory, "model");
        await ModelWriter.WriteAsync(model, ModelPreset.Tiny, seed: 0);

        // The managed NATS, as the operator writes it (golden manifests): JetStream, its store on an emptyDir at /data.
        var nats = Manifests.NatsContainer("--jetstream", "--store_dir", "/data");
        nats["volumeMounts"] = new JsonArray(new JsonObject { ["name"] = "data", ["mountPath"] = "/data" });
        var sts = new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "js", ["namespace"] = "default" },
            ["spec"] = new JsonObject
            {
                ["replicas"] = 1,
                ["serviceName"] = "js",
                ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = "js" } },
                ["template"] = new JsonObject
                {
                    ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = "js" } },
                    ["spec"] = new JsonObject
                    {
                        ["containers"] = new JsonArray(nats),
                        ["volumes"] = new JsonArray(new JsonObject { ["name"] = "data", ["emptyDir"] = new JsonObject() }),
                    },
                },
            },
        };
        c.Create("apps/v1", "StatefulSet", sts);
        c.Create("v1", "Service", Manifests.Service("js", "js", "ClusterIP", ("client", 4222, "client")));
        c.Create("v1", "Secret", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "cluster-secret" }, ["stringData"] = new JsonObject { ["secret"] = TestSecret.Text } });
        c.Create("v1", "ConfigMap", new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "worker-config" },
            ["data"] = new JsonObject { ["DYNAMO__MOCKER__ZERODELAY"] = "true", ["DYNAMO_CACHE_DIR"] = Path.Combine(c.Directory, "cache") },
        });
        var worker = new JsonObject
        {
            ["name"] = "main",
            ["image"] = "dynamo:latest",
            ["command"] = new JsonArray("dynamo"),
            ["args"] = new JsonArray("worker", "--nats", "nats://js.default.svc:4222", "--host", "$(POD_IP)", "--port", "9000",
                "--advertised-host", "$(POD_IP)", "--engine", "mocker", "--model", model, "--served-model-name", "tiny"),
            ["env"] = new JsonArray(
                Manifests.Env("POD_IP", "status.podIP"),
                Manifests.Env("POD_NAME", "metadata.name"),
                new JsonObject { ["name"] = "DYNAMO__CLUSTER__SECRET", ["valueFrom"] = new JsonObject { ["secretKeyRef"] = new JsonObject { ["name"] = "cluster-secret", ["key"] = "secret" } } }),
            ["envFrom"] = new JsonArray(new JsonObject { ["configMapRef"] = new JsonObject { ["name"] = "worker-config" } }),
            ["ports"] = new JsonArray(new JsonObject { ["name"] = "http", ["containerPort"] = 9000, ["protocol"] = "TCP" }),
            ["readinessProbe"] = new JsonObject { ["httpGet"] = new JsonObject { ["path"] = "/health", ["port"] = "http" }, ["periodSeconds"] = 1, ["failureThreshold"] = 3 },
            ["livenessProbe"] = new JsonObject { ["httpGet"] = new JsonObject { ["path"] = "/live", ["port"] = "http" }, ["initialDelaySeconds"] = 10, ["periodSeconds"] = 10, ["failureThreshold"] = 6 },
        };
        await c.WaitAsync("js-0 ready", () => c.Get("v1", "Pod", "js-0") is { } p && Objects.IsPodReady(p), Timeout);
        c.Create("apps/v1", "Deployment", Manifests.Deployment("worker", 2, worker, grace: 10));

        var js0 = c.Get("v1", "Pod", "js-0")!;
        Assert.Equal("js-0", JsonPaths.GetString(js0, "spec.hostname"));
        Assert.Equal("js", JsonPaths.GetString(js0, "spec.subdomain"));
        await c.WaitAsync("2 ready dynamo workers", () => WorkloadTests.ReadyPods(c, "worker") == 2, Timeout);
        await c.WaitAsync("StatefulSet status", () => JsonPaths.GetLong(c.Get("apps/v1", "StatefulSet", "js"), "status.readyReplicas") == 1, Timeout);

        // JetStream served the workers' discovery buckets, stored in js-0's emptyDir (the /data argument rewritten).
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var jsz = await http.GetFromJsonAsync<JsonObject>($"http://{JsonPaths.GetString(js0, "status.podIP")}:8222/jsz");
        Assert.StartsWith(Path.Combine(c.Host.Node.LogPath("default", "js-0", Objects.Uid(js0), "x")[..^"/x.log".Length], "volumes", "data"), (string)jsz!["config"]!["store_dir"]!);
        Assert.True(JsonPaths.GetLong(jsz, "streams") > 0, jsz.ToJsonString());

        // kill -9 of a worker's process: the kubelet restarts the container in place.
        var victim = WorkloadTests.Pods(c, "worker")[0];
        var victimName = Objects.Name(victim);
        var restartsBefore = JsonPaths.GetLong((JsonObject)((JsonArray)JsonPaths.Get(victim, "status.containerStatuses")!)[0]!, "restartCount");
        Assert.True(restartsBefore == 0, $"a worker restarted before the test killed it:\n{c.Describe()}");
        var pidsBefore = c.Host.Node.ProcessIds.ToHashSet();
        var workerPid = pidsBefore.Single(pid => File.ReadAllText($"/proc/{pid}/cmdline").Contains(JsonPaths.GetString(victim, "status.podIP")!, StringComparison.Ordinal));
        System.Diagnostics.Process.GetProcessById(workerPid).Kill();
        await c.WaitAsync("the killed worker restarted once and ready again", () =>
            c.Get("v1", "Pod", victimName) is { } p && Objects.IsPodReady(p)
            && JsonPaths.GetLong((JsonObject)((JsonArray)JsonPaths.Get(p, "status.containerStatuses")!)[0]!, "restartCount") == restartsBefore + 1, Timeout);
        var status = (JsonObject)((JsonArray)JsonPaths.Get(c.Get("v1", "Pod", victimName), "status.containerStatuses")!)[0]!;
        Assert.Equal(137, JsonPaths.GetLong(status, "lastState.terminated.exitCode"));

        var get = await Kubectl.RunAsync(c.Kubeconfig, c.Directory, "get", "pods");
        Assert.True(get.ExitCode == 0, get.All);
        Assert.Matches($@"{victimName}\s+1/1\s+Running\s+{restartsBefore + 1}", get.Stdout);
        Assert.Matches(@"js-0\s+1/1\s+Running\s+0", get.Stdout);
    }
}
