using System.Text.Json.Nodes;
using Dynamo.DevCluster.Controllers;
using Dynamo.DevCluster.Store;
using Dynamo.DevCluster.Tests.Infrastructure;
using k8s;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests.Node;

/// <summary>What the node agent does with one Pod: its environment, restart policies and back-off, probes, logs, stop.</summary>
public sealed class PodLifecycleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static JsonObject? Status(TestCluster c, string pod) =>
        (JsonPaths.Get(c.Get("v1", "Pod", pod), "status.containerStatuses") as JsonArray)?.OfType<JsonObject>().FirstOrDefault();

    private static string Log(TestCluster c, string pod)
    {
        var p = c.Get("v1", "Pod", pod)!;
        var path = c.Host.Node.LogPath("default", pod, Objects.Uid(p), "main");
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    [Fact]
    public async Task Environment_ComesFromValuesFieldsConfigMapsAndSecrets_WithExpansionAndServiceDnsNames()
    {
        await using var c = await TestCluster.StartAsync(output);
        c.Create("v1", "ConfigMap", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "cfg" }, ["data"] = new JsonObject { ["MODE"] = "fast", ["LEVEL"] = "3" } });
        c.Create("v1", "Secret", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "sec" }, ["stringData"] = new JsonObject { ["token"] = "s3cret" } });
        var svc = c.Create("v1", "Service", Manifests.Service("backend", "nothing", "ClusterIP", ("http", 80, "80")));
        var container = Manifests.Shell(
            "echo \"name=$POD_NAME ns=$NS ip=$POD_IP host=$HOST_IP mode=$MODE cfg_LEVEL=$CFG_LEVEL token=$TOKEN url=$URL\"; echo \"api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT kubeconfig=$KUBECONFIG\"; echo \"args: $0 $1\"; sleep 60",
            Manifests.Env("POD_NAME", "metadata.name"),
            Manifests.Env("NS", "metadata.namespace"),
            Manifests.Env("POD_IP", "status.podIP"),
            Manifests.Env("HOST_IP", "status.hostIP"),
            new JsonObject { ["name"] = "MODE", ["valueFrom"] = new JsonObject { ["configMapKeyRef"] = new JsonObject { ["name"] = "cfg", ["key"] = "MODE" } } },
            new JsonObject { ["name"] = "TOKEN", ["valueFrom"] = new JsonObject { ["secretKeyRef"] = new JsonObject { ["name"] = "sec", ["key"] = "token" } } },
            new JsonObject { ["name"] = "URL", ["value"] = "http://backend.default.svc.cluster.local:80/$(POD_NAME)/$$(KEPT)" });
        container["envFrom"] = new JsonArray(new JsonObject { ["prefix"] = "CFG_", ["configMapRef"] = new JsonObject { ["name"] = "cfg" } });
        container["command"]!.AsArray().Add("$(POD_IP)");
        container["command"]!.AsArray().Add("backend.default.svc");
        c.Create("v1", "Pod", Manifests.Pod("env", "Never", container));

        await c.WaitAsync("the pod printed its environment", () => Log(c, "env").Contains("\nargs: ", StringComparison.Ordinal), Timeout);
        var pod = c.Get("v1", "Pod", "env")!;
        var ip = JsonPaths.GetString(pod, "status.podIP");
        var clusterIp = JsonPaths.GetString(svc, "spec.clusterIP");
        var log = Log(c, "env");
        Assert.Contains($"name=env ns=default ip={ip} host=127.0.0.1 mode=fast cfg_LEVEL=3 token=s3cret url=http://{clusterIp}:80/env/$(KEPT)", log);
        Assert.Contains($"args: {ip} {clusterIp}", log);
        var api = c.Host.Server.Address;
        var kubeconfig = Path.Combine(c.Directory, "data", "kubeconfig");
        Assert.Contains($"api={api.Host}:{api.Port} kubeconfig={kubeconfig}", log);
        Assert.Contains(c.Host.Server.BearerToken, File.ReadAllText(kubeconfig));
        Assert.Equal("Running", JsonPaths.GetString(pod, "status.phase"));
    }

    [Fact]
    public async Task MissingConfigMap_LeavesThePodPending_WithTheReason_UntilItExists()
    {
        await using var c = await TestCluster.StartAsync(output);
        var container = Manifests.Shell("echo started; sleep 60");
        container["envFrom"] = new JsonArray(new JsonObject { ["configMapRef"] = new JsonObject { ["name"] = "later" } });
        c.Create("v1", "Pod", Manifests.Pod("waits", "Always", container));
        await c.WaitAsync("CreateContainerConfigError naming the ConfigMap", () =>
            JsonPaths.GetString(Status(c, "waits"), "state.waiting.reason") == "CreateContainerConfigError"
            && JsonPaths.GetString(Status(c, "waits"), "state.waiting.message")!.Contains("configmap \"later\" not found", StringComparison.Ordinal), Timeout);
        Assert.Equal("Pending", JsonPaths.GetString(c.Get("v1", "Pod", "waits"), "status.phase"));
        c.Create("v1", "ConfigMap", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "later" }, ["data"] = new JsonObject { ["A"] = "1" } });
        await c.WaitAsync("running once the ConfigMap exists", () => JsonPaths.GetString(c.Get("v1", "Pod", "waits"), "status.phase") == "Running", Timeout);
    }

    [Fact]
    public async Task ServiceNameOfAServiceNotYetCreated_LeavesThePodPending_UntilTheServiceExists_ThenResolvesToItsClusterIp()
    {
        await using var c = await TestCluster.StartAsync(output);
        var container = Manifests.Shell("echo \"resolved to $0\"; sleep 60");
        container["command"]!.AsArray().Add("http://later.default.svc:8000/metrics");
        c.Create("v1", "Pod", Manifests.Pod("needs-svc", "Always", container));
        await c.WaitAsync("CreateContainerConfigError naming the Service", () =>
            JsonPaths.GetString(Status(c, "needs-svc"), "state.waiting.reason") == "CreateContainerConfigError"
            && JsonPaths.GetString(Status(c, "needs-svc"), "state.waiting.message")!.Contains("no Service \"later\"", StringComparison.Ordinal), Timeout);
        Assert.Equal("Pending", JsonPaths.GetString(c.Get("v1", "Pod", "needs-svc"), "status.phase"));

        var svc = c.Create("v1", "Service", Manifests.Service("later", "nobody", "ClusterIP", ("http", 8000, "http")));
        // The log's "starting" line holds the script too: wait for the output, which alone has "resolved to http".
        await c.WaitAsync("the pod printed the Service's cluster IP", () => Log(c, "needs-svc").Contains("resolved to http", StringComparison.Ordinal), Timeout);
        Assert.True(Log(c, "needs-svc").Contains($"resolved to http://{JsonPaths.GetString(svc, "spec.clusterIP")}:8000/metrics", StringComparison.Ordinal), Log(c, "needs-svc"));
    }

    [Fact]
    public async Task Host_DisposedTwice_StopsItsPodsOnce_AndTheSecondDisposeIsANoOp()
    {
        var c = await TestCluster.StartAsync(output);
        c.Create("v1", "Pod", Manifests.Pod("sleeper", "Always", Manifests.Shell("sleep 60")));
        await c.WaitAsync("sleeper running", () => JsonPaths.GetString(c.Get("v1", "Pod", "sleeper"), "status.phase") == "Running", Timeout);
        var pids = c.Host.Node.ProcessIds.ToList();
        Assert.NotEmpty(pids);
        await c.Host.DisposeAsync();
        await c.Host.DisposeAsync();
        Assert.All(pids, pid => Assert.False(TestCluster.IsAlive(pid), $"pod process {pid} outlived the host"));
        await c.DisposeAsync();
    }

    [Fact]
    public async Task FailedContainer_Never_IsFailedWithExitCodeAndLastLines_OnFailure_RestartsWithBackOff()
    {
        await using var c = await TestCluster.StartAsync(output);
        c.Create("v1", "Pod", Manifests.Pod("once", "Never", Manifests.Shell("echo first line; echo boom >&2; exit 3")));
        c.Create("v1", "Pod", Manifests.Pod("again", "OnFailure", Manifests.Shell("echo try; exit 1")));
        c.Create("v1", "Pod", Manifests.Pod("done", "OnFailure", Manifests.Shell("echo fine")));

        await c.WaitAsync("pod once Failed with exit code 3", () => JsonPaths.GetString(c.Get("v1", "Pod", "once"), "status.phase") == "Failed", Timeout);
        var terminated = (JsonObject)JsonPaths.Get(Status(c, "once"), "state.terminated")!;
        Assert.Equal(3, JsonPaths.GetLong(terminated, "exitCode"));
        Assert.Equal("Error", (string?)terminated["reason"]);
        // stdout and stderr are two pipes read side by side: lines keep their order within a stream, not across them
        // (a fresh-clone run got "boom" before "first line").
        Assert.Equal(["boom", "first line"], ((string?)terminated["message"])!.Split('\n').Order(StringComparer.Ordinal));
        Assert.Contains("boom", Log(c, "once"));
        Assert.Equal(0, JsonPaths.GetLong(Status(c, "once"), "restartCount"));

        await c.WaitAsync("pod again restarted twice and backing off", () =>
            JsonPaths.GetLong(Status(c, "again"), "restartCount") >= 2
            && JsonPaths.GetString(Status(c, "again"), "state.waiting.reason") == "CrashLoopBackOff", Timeout);
        Assert.Equal(1, JsonPaths.GetLong(Status(c, "again"), "lastState.terminated.exitCode"));
        Assert.Contains(c.List("v1", "Event"), e => (string?)e["reason"] == "BackOff" && JsonPaths.GetString(e, "involvedObject.name") == "again");

        await c.WaitAsync("pod done Succeeded", () => JsonPaths.GetString(c.Get("v1", "Pod", "done"), "status.phase") == "Succeeded", Timeout);
        Assert.Equal("Completed", JsonPaths.GetString(Status(c, "done"), "state.terminated.reason"));
    }

    [Fact]
    public async Task FailingLivenessProbe_RestartsTheContainer_WithUnhealthyAndKillingEvents()
    {
        await using var c = await TestCluster.StartAsync(output);
        var container = Manifests.NatsContainer();
        container["livenessProbe"] = new JsonObject
        {
            ["httpGet"] = new JsonObject { ["path"] = "/no-such-page", ["port"] = 8222 },
            ["periodSeconds"] = 1,
            ["failureThreshold"] = 2,
        };
        c.Create("v1", "Pod", Manifests.Pod("sick", "Always", container));
        await c.WaitAsync("restarted after the liveness probe failed", () => JsonPaths.GetLong(Status(c, "sick"), "restartCount") >= 1, Timeout);
        var events = c.List("v1", "Event", e => JsonPaths.GetString(e, "involvedObject.name") == "sick").ToList();
        Assert.Contains(events, e => (string?)e["reason"] == "Unhealthy" && ((string)e["message"]!).StartsWith("Liveness probe failed: HTTP probe failed with statuscode: 404", StringComparison.Ordinal));
        Assert.Contains(events, e => (string?)e["reason"] == "Killing" && ((string)e["message"]!).Contains("failed liveness probe", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StoppingTheAgent_EndsEveryPodProcess_EvenOneIgnoringSigterm()
    {
        var c = await TestCluster.StartAsync(output);
        try
        {
            c.Create("v1", "Pod", Manifests.Pod("stubborn", "Always", Manifests.Shell("trap '' TERM; echo up; while true; do sleep 1; done"), grace: 2));
            c.Create("apps/v1", "Deployment", Manifests.Deployment("nats", 2, Manifests.NatsContainer()));
            await c.WaitAsync("3 running processes", () => c.Host.Node.ProcessIds.Count == 3 && Log(c, "stubborn").Contains("up", StringComparison.Ordinal), Timeout);
            var pids = c.Host.Node.ProcessIds.ToList();
            await c.DisposeAsync();
            Assert.All(pids, pid => Assert.False(TestCluster.IsAlive(pid), $"pid {pid} still alive"));
        }
        finally
        {
            await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task DeletingAPod_SendsSigterm_ThenSigkillAfterTheGracePeriod_ThenRemovesIt()
    {
        await using var c = await TestCluster.StartAsync(output);
        c.Create("v1", "Pod", Manifests.Pod("polite", "Always", Manifests.Shell("trap 'echo got TERM; exit 0' TERM; echo up; while true; do sleep 0.2; done"), grace: 30));
        c.Create("v1", "Pod", Manifests.Pod("rude", "Always", Manifests.Shell("trap '' TERM; echo up; while true; do sleep 0.2; done"), grace: 1));
        await c.WaitAsync("both running", () => Log(c, "polite").Contains("up", StringComparison.Ordinal) && Log(c, "rude").Contains("up", StringComparison.Ordinal), Timeout);
        var politeLog = c.Host.Node.LogPath("default", "polite", Objects.Uid(c.Get("v1", "Pod", "polite")!), "main");

        await c.Client.CoreV1.DeleteNamespacedPodAsync("polite", "default");
        await c.Client.CoreV1.DeleteNamespacedPodAsync("rude", "default");
        await c.WaitAsync("both pods gone from the API", () => c.Get("v1", "Pod", "polite") is null && c.Get("v1", "Pod", "rude") is null, TimeSpan.FromSeconds(15));
        Assert.Contains("got TERM", File.ReadAllText(politeLog));
        Assert.Empty(c.Host.Node.ProcessIds);
        Assert.Contains(c.List("v1", "Event"), e => JsonPaths.GetString(e, "involvedObject.name") == "rude" && ((string)e["message"]!).Contains("SIGKILL", StringComparison.Ordinal));
    }
}
