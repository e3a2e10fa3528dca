using System.Text;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Controllers;
using Dynamo.DevCluster.Store;
using Microsoft.Extensions.Logging;

namespace Dynamo.DevCluster.Node;

/// <summary>
/// One Pod on the node: its loopback address, its folder (logs and volumes), its containers as local processes, its
/// status (phase, IPs, conditions, container statuses) written through the /status subresource as it changes, and
/// its end: SIGTERM, SIGKILL after the grace period, then the final delete with a zero grace period.
/// </summary>
internal sealed class PodWorker : IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _statusGate = new();
    private readonly List<ContainerRunner> _containers = [];
    private readonly Dictionary<string, string> _volumePaths = new(StringComparer.Ordinal);
    private readonly string _startTime;
    private volatile JsonObject _pod;
    private Task _run = Task.CompletedTask;
    private TimeSpan _grace;
    private string? _podError;

    public PodWorker(NodeAgent agent, JsonObject pod, string podIp)
    {
        Agent = agent;
        _pod = pod;
        PodIp = podIp;
        Namespace = Objects.Namespace(pod);
        Name = Objects.Name(pod);
        Uid = Objects.Uid(pod);
        Directory = Path.Combine(agent.Options.DataDirectory, "pods", $"{Namespace}_{Name}_{Uid}");
        _grace = TimeSpan.FromSeconds(JsonPaths.GetLong(pod, "spec.terminationGracePeriodSeconds") ?? 30);
        _startTime = Objects.Timestamp(agent.Time.GetUtcNow());
    }

    public NodeAgent Agent { get; }

    public EventRecorder Events => Agent.Events;

    public JsonObject Pod => _pod;

    public string PodIp { get; }

    public string Namespace { get; }

    public string Name { get; }

    public string Uid { get; }

    public string Directory { get; }

    public TimeSpan GracePeriod => _grace;

    public bool Stopping => _stopping.IsCancellationRequested;

    public Task Completion => _run;

    public IEnumerable<int> ProcessIds => _containers.Select(c => c.ProcessId).OfType<int>();

    public void Start()
    {
        System.IO.Directory.CreateDirectory(Directory);
        var containers = JsonPaths.Get(_pod, "spec.containers") as JsonArray ?? [];
        foreach (var c in containers.OfType<JsonObject>())
        {
            _containers.Add(new ContainerRunner(this, c));
            Events.Normal(_pod, "ImageIgnored", $"Image \"{(string?)c["image"]}\" is not pulled: the dev cluster runs container {(string?)c["name"]}'s command as a local process on {Agent.Options.NodeName}");
        }
        try
        {
            if (JsonPaths.Get(_pod, "spec.initContainers") is JsonArray { Count: > 0 })
                throw new ContainerConfigException("CreateContainerConfigError", "initContainers are not supported on the dev cluster");
            PrepareVolumes();
        }
        catch (ContainerConfigException e)
        {
            _podError = e.Message;
            Events.Warning(_pod, "Failed", e.Message);
            PublishStatus();
            return;
        }
        PublishStatus();
        _run = Task.WhenAll(_containers.Select(c => Task.Run(() => c.RunAsync(_stopping.Token))));
        _ = _run.ContinueWith(_ => PublishStatus(), TaskScheduler.Default);
    }

    public void Update(JsonObject pod) => _pod = pod;

    public void Dispose() => _stopping.Dispose();

    /// <summary>Starts the stop: every container gets SIGTERM, and SIGKILL after <paramref name="grace"/>.</summary>
    public Task StopAsync(TimeSpan grace)
    {
        if (!_stopping.IsCancellationRequested)
        {
            _grace = grace;
            _stopping.Cancel();
        }
        return _run;
    }

    public ContainerLaunch BuildLaunch(JsonObject container) =>
        Agent.Launches.Build(_pod, container, Directory, _volumePaths, Agent.HostIp);

    /// <summary>emptyDir: a folder of the pod; configMap and secret: their keys as files; hostPath: the path itself.</summary>
    private void PrepareVolumes()
    {
        var mounts = (JsonPaths.Get(_pod, "spec.containers") as JsonArray ?? []).OfType<JsonObject>()
            .SelectMany(c => (c["volumeMounts"] as JsonArray ?? []).OfType<JsonObject>()).ToList();
        foreach (var volume in (JsonPaths.Get(_pod, "spec.volumes") as JsonArray ?? []).OfType<JsonObject>())
        {
            var name = (string?)volume["name"] ?? "";
            string path;
            if (volume["emptyDir"] is not null)
            {
                path = Path.Combine(Directory, "volumes", name);
                System.IO.Directory.CreateDirectory(path);
            }
            else if (volume["hostPath"] is JsonObject hostPath)
            {
                path = (string?)hostPath["path"] ?? "/";
            }
            else if (volume["configMap"] is JsonObject cm)
            {
                path = WriteKeys(name, Agent.Store.Registry.FindKind("v1", "ConfigMap")!, cm, (string?)cm["name"], secret: false);
            }
            else if (volume["secret"] is JsonObject secret)
            {
                path = WriteKeys(name, Agent.Store.Registry.FindKind("v1", "Secret")!, secret, (string?)secret["secretName"], secret: true);
            }
            else
            {
                throw new ContainerConfigException("CreateContainerConfigError",
                    $"volume {name}: only emptyDir, hostPath, configMap and secret volumes are supported on the dev cluster");
            }
            foreach (var mount in mounts.Where(m => (string?)m["name"] == name))
            {
                var mountPath = ((string?)mount["mountPath"] ?? "").TrimEnd('/');
                var sub = (string?)mount["subPath"];
                _volumePaths[mountPath] = string.IsNullOrEmpty(sub) ? path : Path.Combine(path, sub);
            }
        }
    }

    private string WriteKeys(string volume, ResourceType type, JsonObject source, string? objectName, bool secret)
    {
        var path = Path.Combine(Directory, "volumes", volume);
        System.IO.Directory.CreateDirectory(path);
        if (!Agent.Store.TryGet(type, Namespace, objectName ?? "", out var obj))
        {
            if (source["optional"]?.GetValue<bool>() == true) return path;
            throw new ContainerConfigException("CreateContainerConfigError", $"volume {volume}: {(secret ? "secret" : "configmap")} \"{objectName}\" not found");
        }
        var items = (source["items"] as JsonArray)?.OfType<JsonObject>().ToDictionary(i => (string?)i["key"] ?? "", i => (string?)i["path"] ?? "");
        foreach (var (key, value) in obj!["data"] as JsonObject ?? [])
        {
            if (items is not null && !items.ContainsKey(key)) continue;
            var file = Path.Combine(path, items?[key] ?? key);
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            var text = value?.ToString() ?? "";
            File.WriteAllBytes(file, secret ? Convert.FromBase64String(text) : Encoding.UTF8.GetBytes(text));
        }
        return path;
    }

    public void StateChanged() => PublishStatus();

    /// <summary>Writes the Pod's status from its containers' states (a write equal to the stored status is a no-op).</summary>
    public void PublishStatus()
    {
        lock (_statusGate)
        {
            var statuses = _containers.Select(c => c.Status()).ToList();
            var allReady = _containers.Count > 0 && statuses.All(s => s["ready"]!.GetValue<bool>());
            var allDone = _containers.Count > 0 && _containers.All(c => c.Done);
            string phase;
            if (_podError is not null || _containers.Any(c => !c.EverStarted)) phase = "Pending";
            else if (allDone && !Stopping)
                phase = statuses.All(s => JsonPaths.GetLong(s, "state.terminated.exitCode") == 0) ? "Succeeded" : "Failed";
            else phase = "Running";
            if (allDone && Stopping && JsonPaths.GetString(_pod, "status.phase") is { } kept && kept is "Succeeded" or "Failed") phase = kept;

            var now = Objects.Timestamp(Agent.Time.GetUtcNow());
            var previous = _pod["status"] as JsonObject;
            var conditions = new JsonArray();
            AddCondition(conditions, previous, "PodReadyToStartContainers", _podError is null, now);
            AddCondition(conditions, previous, "Initialized", true, now);
            AddCondition(conditions, previous, "Ready", allReady && !Stopping, now, allReady ? null : "ContainersNotReady",
                allReady ? null : $"containers with unready status: [{string.Join(' ', statuses.Where(s => !s["ready"]!.GetValue<bool>()).Select(s => (string?)s["name"]))}]");
            AddCondition(conditions, previous, "ContainersReady", allReady, now, allReady ? null : "ContainersNotReady",
                allReady ? null : $"containers with unready status: [{string.Join(' ', statuses.Where(s => !s["ready"]!.GetValue<bool>()).Select(s => (string?)s["name"]))}]");
            AddCondition(conditions, previous, "PodScheduled", true, now);

            var status = new JsonObject
            {
                ["phase"] = phase,
                ["conditions"] = conditions,
                ["hostIP"] = Agent.HostIp,
                ["hostIPs"] = new JsonArray(new JsonObject { ["ip"] = Agent.HostIp }),
                ["podIP"] = PodIp,
                ["podIPs"] = new JsonArray(new JsonObject { ["ip"] = PodIp }),
                ["startTime"] = (string?)previous?["startTime"] ?? _startTime,
                ["containerStatuses"] = new JsonArray(statuses.Select(s => (JsonNode?)s).ToArray()),
                ["qosClass"] = "BestEffort",
            };
            if (_podError is not null) status["message"] = _podError;
            if (JsonNode.DeepEquals(previous, status)) return;
            try
            {
                var written = Agent.Store.Update(Agent.Pods, Namespace, Name, o =>
                {
                    if (Objects.Uid(o) != Uid) throw new ApiException(404, "NotFound", $"pod {Name} was replaced");
                    o["status"] = status.DeepClone();
                    JsonPaths.Metadata(o).Remove("resourceVersion");
                    return o;
                }, WriteTarget.Status);
                _pod = written;
            }
            catch (ApiException e) when (e.Code == 404)
            {
                // Deleted already.
            }
        }
    }

    private static void AddCondition(JsonArray conditions, JsonObject? previous, string type, bool value, string now, string? reason = null, string? message = null)
    {
        var old = (previous?["conditions"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault(c => (string?)c["type"] == type);
        var status = value ? "True" : "False";
        var c = new JsonObject
        {
            ["type"] = type,
            ["status"] = status,
            ["lastProbeTime"] = null,
            ["lastTransitionTime"] = old is not null && (string?)old["status"] == status ? old["lastTransitionTime"]?.DeepClone() : now,
        };
        if (reason is not null) c["reason"] = reason;
        if (message is not null) c["message"] = message;
        conditions.Add(c);
    }
}
