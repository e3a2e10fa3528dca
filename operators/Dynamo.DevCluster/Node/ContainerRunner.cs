using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Controllers;
using Dynamo.DevCluster.Store;
using Microsoft.Extensions.Logging;

namespace Dynamo.DevCluster.Node;

/// <summary>
/// One container of a Pod as a local process, as the kubelet runs it: started from its <see cref="ContainerLaunch"/>,
/// its output appended to a log file, its probes run (startup, then liveness and readiness), restarted by the Pod's
/// restartPolicy with exponential back-off (CrashLoopBackOff), stopped with SIGTERM then SIGKILL after the grace
/// period. Its state is read by <see cref="PodWorker"/> for the Pod's status.
/// </summary>
internal sealed class ContainerRunner
{
    private readonly PodWorker _pod;
    private readonly JsonObject _spec;
    private readonly object _gate = new();
    private readonly Queue<string> _tail = new();
    private Process? _process;
    private TaskCompletionSource<int>? _exited;
    private JsonObject _state = new() { ["waiting"] = new JsonObject { ["reason"] = "ContainerCreating" } };
    private JsonObject? _lastState;
    private bool _ready;
    private bool _started;
    private bool _livenessKill;

    public ContainerRunner(PodWorker pod, JsonObject spec)
    {
        _pod = pod;
        _spec = spec;
        Name = (string?)spec["name"] ?? "main";
        LogPath = Path.Combine(pod.Directory, Name + ".log");
    }

    public string Name { get; }

    public string LogPath { get; }

    public int RestartCount { get; private set; }

    /// <summary>Finished for good (the restart policy does not restart it).</summary>
    public bool Done { get; private set; }

    public int? ProcessId
    {
        get
        {
            lock (_gate) return _process is { HasExited: false } p ? p.Id : null;
        }
    }

    public bool Running
    {
        get
        {
            lock (_gate) return _state["running"] is not null;
        }
    }

    public bool EverStarted { get; private set; }

    public JsonObject Status()
    {
        lock (_gate)
        {
            var status = new JsonObject
            {
                ["name"] = Name,
                ["image"] = (string?)_spec["image"] ?? "",
                ["imageID"] = "",
                ["ready"] = _ready && _state["running"] is not null,
                ["started"] = _started && _state["running"] is not null,
                ["restartCount"] = RestartCount,
                ["state"] = _state.DeepClone(),
                ["lastState"] = _lastState?.DeepClone() ?? new JsonObject(),
            };
            if (_process is not null) status["containerID"] = $"devcluster://{_pod.Uid}/{Name}/{RestartCount}";
            return status;
        }
    }

    /// <summary>Runs, restarts and finally stops the container; returns when it is stopped for good.</summary>
    public async Task RunAsync(CancellationToken podStopping)
    {
        var restartPolicy = JsonPaths.GetString(_pod.Pod, "spec.restartPolicy") ?? "Always";
        var backoffStep = 0;
        while (!podStopping.IsCancellationRequested)
        {
            int exitCode;
            string startedAt;
            try
            {
                var launch = _pod.BuildLaunch(_spec);
                startedAt = Objects.Timestamp(_pod.Agent.Time.GetUtcNow());
                exitCode = await RunOnceAsync(launch, startedAt, podStopping);
            }
            catch (ContainerConfigException e)
            {
                SetState(new JsonObject { ["waiting"] = new JsonObject { ["reason"] = e.Reason, ["message"] = e.Message } });
                _pod.Events.Warning(_pod.Pod, "Failed", $"Error: {e.Message}");
                await DelayAsync(Backoff(backoffStep++), podStopping);
                continue;
            }
            if (podStopping.IsCancellationRequested) break;

            var restart = restartPolicy switch
            {
                "Never" => false,
                "OnFailure" => exitCode != 0 || _livenessKill,
                _ => true,
            };
            if (!restart)
            {
                Done = true;
                _pod.StateChanged();
                return;
            }
            var delay = Backoff(backoffStep++);
            if (delay > TimeSpan.Zero)
            {
                lock (_gate)
                {
                    _lastState = _state;
                    _state = new JsonObject
                    {
                        ["waiting"] = new JsonObject
                        {
                            ["reason"] = "CrashLoopBackOff",
                            ["message"] = $"back-off {delay.TotalSeconds:0.#}s restarting failed container={Name} pod={_pod.Name}_{_pod.Namespace}({_pod.Uid})",
                        },
                    };
                }
                _pod.StateChanged();
                _pod.Events.Warning(_pod.Pod, "BackOff", "Back-off restarting failed container " + Name);
                await DelayAsync(delay, podStopping);
            }
            if (podStopping.IsCancellationRequested) break;
            lock (_gate)
            {
                if (_state["terminated"] is not null) _lastState = _state;
                RestartCount++;
            }
        }
        Done = true;
    }

    /// <summary>The back-off before restart n: none for the first, then RestartBackoff doubled each time, capped.</summary>
    private TimeSpan Backoff(int step)
    {
        if (step == 0) return TimeSpan.Zero;
        var o = _pod.Agent.Options;
        var ticks = o.RestartBackoff.Ticks * Math.Pow(2, Math.Min(step - 1, 20));
        return TimeSpan.FromTicks((long)Math.Min(ticks, o.MaxRestartBackoff.Ticks));
    }

    private static async Task DelayAsync(TimeSpan delay, CancellationToken token)
    {
        try
        {
            await Task.Delay(delay, token);
        }
        catch (OperationCanceledException)
        {
            // The pod is stopping.
        }
    }

    private async Task<int> RunOnceAsync(ContainerLaunch launch, string startedAt, CancellationToken podStopping)
    {
        // Each container is its own session and process group (setsid execs the command in place, same pid), so
        // what it starts is ended with it, as a container runtime ends everything in the container.
        var info = new ProcessStartInfo(Setsid ?? launch.Executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = launch.WorkingDirectory,
        };
        if (Setsid is not null) info.ArgumentList.Add(launch.Executable);
        foreach (var a in launch.Arguments) info.ArgumentList.Add(a);
        // The agent's own configuration is not the pod's.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("DYNAMO__", StringComparison.OrdinalIgnoreCase) || k == "KUBECONFIG").ToList()) info.Environment.Remove(key);
        if (_pod.Agent.ApiServer is { } api)
        {
            info.Environment["KUBERNETES_SERVICE_HOST"] = api.Host;
            info.Environment["KUBERNETES_SERVICE_PORT"] = api.Port.ToString(CultureInfo.InvariantCulture);
        }
        if (_pod.Agent.PodKubeconfig is { } kubeconfig) info.Environment["KUBECONFIG"] = kubeconfig;
        foreach (var (k, v) in launch.Environment) info.Environment[k] = v;

        var log = new StreamWriter(new FileStream(LogPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var exited = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) => OnLine(log, e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(log, e.Data);
        try
        {
            lock (_gate) _tail.Clear();
            log.WriteLine($"--- {startedAt} starting {launch.Executable} {string.Join(' ', launch.Arguments)} (restart {RestartCount})");
            process.Start();
        }
        catch (Win32Exception e)
        {
            await log.DisposeAsync();
            process.Dispose();
            throw new ContainerConfigException("RunContainerError", $"failed to start {launch.Executable}: {e.Message}");
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_gate)
        {
            _process = process;
            _exited = exited;
            _ready = false;
            _started = false;
            _livenessKill = false;
            _state = new JsonObject { ["running"] = new JsonObject { ["startedAt"] = startedAt } };
        }
        EverStarted = true;
        _pod.Agent.Metrics?.ContainerStarts.Inc();
        _pod.Agent.Log.LogInformation("Pod {Namespace}/{Name} container {Container} started: pid {Pid}, {Executable} {Arguments}",
            _pod.Namespace, _pod.Name, Name, process.Id, launch.Executable, string.Join(' ', launch.Arguments));
        _pod.Events.Normal(_pod.Pod, "Started", $"Started container {Name} (pid {process.Id})");
        _pod.StateChanged();

        using var probing = CancellationTokenSource.CreateLinkedTokenSource(podStopping);
        var probes = Task.Run(() => ProbeLoopAsync(probing.Token), CancellationToken.None);
        using var stopRegistration = podStopping.Register(() => _ = StopAsync(_pod.GracePeriod, "Stopping"));
        var pid = process.Id;
        _ = Task.Run(async () =>
        {
            // The main process ended (the Exited event does not wait for the output to close): whatever it left in
            // its group goes too, then the output drains.
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            process.Exited += (_, _) => ended.TrySetResult();
            if (process.HasExited) ended.TrySetResult();
            await ended.Task;
            KillGroup(pid);
            try
            {
                await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (TimeoutException)
            {
                // A descendant that left the group still holds the output open; the exit code is known anyway.
            }
            exited.TrySetResult(process.ExitCode);
        }, CancellationToken.None);

        var exitCode = await exited.Task;
        await probing.CancelAsync();
        await probes;
        var finishedAt = Objects.Timestamp(_pod.Agent.Time.GetUtcNow());
        log.WriteLine($"--- {finishedAt} exited with code {exitCode}");
        await log.DisposeAsync();
        var terminated = new JsonObject
        {
            ["exitCode"] = exitCode,
            ["reason"] = exitCode == 0 ? "Completed" : "Error",
            ["startedAt"] = startedAt,
            ["finishedAt"] = finishedAt,
            ["containerID"] = $"devcluster://{_pod.Uid}/{Name}/{RestartCount}",
        };
        if (exitCode > 128) terminated["signal"] = exitCode - 128;
        lock (_gate)
        {
            if (exitCode != 0 && _tail.Count > 0) terminated["message"] = string.Join('\n', _tail);
            _state = new JsonObject { ["terminated"] = terminated };
            _ready = false;
            _process = null;
            _exited = null;
        }
        process.Dispose();
        _pod.Agent.Metrics?.ContainerExits.WithLabels(exitCode == 0 ? "Completed" : "Error").Inc();
        _pod.Agent.Log.LogInformation("Pod {Namespace}/{Name} container {Container} exited with code {ExitCode}", _pod.Namespace, _pod.Name, Name, exitCode);
        _pod.StateChanged();
        return exitCode;
    }

    private void OnLine(StreamWriter log, string? line)
    {
        if (line is null) return;
        lock (_gate)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // A last line after the exit was logged.
            }
            _tail.Enqueue(line);
            while (_tail.Count > _pod.Agent.Options.TerminationMessageLines) _tail.Dequeue();
        }
    }

    /// <summary>SIGTERM, then SIGKILL (the whole process tree) after <paramref name="grace"/>; returns when the process is gone.</summary>
    public async Task StopAsync(TimeSpan grace, string why)
    {
        Process? process;
        Task<int>? exited;
        lock (_gate)
        {
            process = _process;
            exited = _exited?.Task;
        }
        if (process is null || exited is null) return;
        int pid;
        try
        {
            pid = process.Id;
        }
        catch (InvalidOperationException)
        {
            return;
        }
        _pod.Events.Normal(_pod.Pod, "Killing", $"{why} container {Name} (pid {pid}) with SIGTERM, grace period {grace.TotalSeconds:0.#}s");
        Signals.Send(pid, Signals.SigTerm);
        if (await Task.WhenAny(exited, Task.Delay(grace)) != exited)
        {
            _pod.Events.Warning(_pod.Pod, "Killing", $"Container {Name} (pid {pid}) did not stop within {grace.TotalSeconds:0.#}s of SIGTERM: SIGKILL");
            KillGroup(pid);
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }
            await exited;
        }
    }

    private static readonly string? Setsid = OperatingSystem.IsLinux() && File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid" : null;

    /// <summary>SIGKILL to the container's process group (its pid is the group's id when started through setsid).</summary>
    private static void KillGroup(int pid)
    {
        if (Setsid is not null) Signals.Send(-pid, Signals.SigKill);
    }

    private void SetState(JsonObject state)
    {
        lock (_gate) _state = state;
        _pod.StateChanged();
    }

    private async Task ProbeLoopAsync(CancellationToken token)
    {
        var startup = _spec["startupProbe"] as JsonObject;
        var liveness = _spec["livenessProbe"] as JsonObject;
        var readiness = _spec["readinessProbe"] as JsonObject;
        try
        {
            if (startup is not null)
            {
                var ok = await RunProbeAsync("Startup", startup, token, untilSuccess: true);
                if (!ok) return;
            }
            lock (_gate) _started = true;
            if (readiness is null)
            {
                lock (_gate) _ready = true;
            }
            _pod.StateChanged();
            var tasks = new List<Task>();
            if (liveness is not null) tasks.Add(RunProbeAsync("Liveness", liveness, token, untilSuccess: false));
            if (readiness is not null) tasks.Add(RunProbeAsync("Readiness", readiness, token, untilSuccess: false));
            await Task.WhenAll(tasks);
        }
        catch (OperationCanceledException)
        {
            // The container exited or the pod is stopping.
        }
    }

    /// <summary>Runs one probe on its period; startup returns true once it passes (false when it failed for good and the container was killed).</summary>
    private async Task<bool> RunProbeAsync(string kind, JsonObject probe, CancellationToken token, bool untilSuccess)
    {
        var initialDelay = TimeSpan.FromSeconds(Objects.Int(probe, "initialDelaySeconds", 0));
        var period = TimeSpan.FromSeconds(Math.Max(1, Objects.Int(probe, "periodSeconds", 10)));
        var timeout = TimeSpan.FromSeconds(Math.Max(1, Objects.Int(probe, "timeoutSeconds", 1)));
        var failureThreshold = Math.Max(1, Objects.Int(probe, "failureThreshold", 3));
        var successThreshold = Math.Max(1, Objects.Int(probe, "successThreshold", 1));
        var successes = 0;
        var failures = 0;
        await Task.Delay(initialDelay, token);
        while (!token.IsCancellationRequested)
        {
            var (ok, detail) = await ProbeOnceAsync(probe, timeout, token);
            token.ThrowIfCancellationRequested();
            if (ok)
            {
                failures = 0;
                successes++;
                if (untilSuccess) return true;
                if (kind == "Readiness" && successes >= successThreshold) SetReady(true);
            }
            else
            {
                successes = 0;
                failures++;
                _pod.Agent.Metrics?.ProbeFailures.WithLabels(kind).Inc();
                _pod.Events.Warning(_pod.Pod, "Unhealthy", $"{kind} probe failed: {detail}");
                if (failures >= failureThreshold)
                {
                    if (kind == "Readiness")
                    {
                        SetReady(false);
                    }
                    else
                    {
                        lock (_gate) _livenessKill = true;
                        _ = StopAsync(_pod.GracePeriod, $"Container {Name} failed {kind.ToLowerInvariant()} probe, will be restarted:");
                        return false;
                    }
                }
            }
            await Task.Delay(period, token);
        }
        return false;
    }

    private void SetReady(bool ready)
    {
        bool changed;
        lock (_gate)
        {
            changed = _ready != ready;
            _ready = ready;
        }
        if (changed) _pod.StateChanged();
    }

    private async Task<(bool Ok, string Detail)> ProbeOnceAsync(JsonObject probe, TimeSpan timeout, CancellationToken token)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        cts.CancelAfter(timeout);
        try
        {
            if (probe["httpGet"] is JsonObject http)
            {
                var host = (string?)http["host"] is { Length: > 0 } h ? h : _pod.PodIp;
                var port = ResolvePort(http["port"]);
                var scheme = ((string?)http["scheme"] ?? "HTTP").ToLowerInvariant();
                var path = (string?)http["path"] ?? "/";
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{scheme}://{host}:{port}{(path.StartsWith('/') ? path : "/" + path)}");
                foreach (var header in (http["httpHeaders"] as JsonArray ?? []).OfType<JsonObject>())
                    request.Headers.TryAddWithoutValidation((string?)header["name"] ?? "", (string?)header["value"] ?? "");
                using var response = await _pod.Agent.ProbeClient.SendAsync(request, cts.Token);
                var code = (int)response.StatusCode;
                return code is >= 200 and < 400 ? (true, "") : (false, $"HTTP probe failed with statuscode: {code}");
            }
            if (probe["tcpSocket"] is JsonObject tcp)
            {
                var host = (string?)tcp["host"] is { Length: > 0 } h ? h : _pod.PodIp;
                using var client = new TcpClient();
                await client.ConnectAsync(host, ResolvePort(tcp["port"]), cts.Token);
                return (true, "");
            }
            if (probe["exec"] is JsonObject exec)
            {
                var command = (exec["command"] as JsonArray ?? []).Select(n => n?.ToString() ?? "").ToList();
                if (command.Count == 0) return (false, "exec probe has no command");
                var launch = _pod.BuildLaunch(new JsonObject
                {
                    ["name"] = Name,
                    ["command"] = new JsonArray(command.Select(c => (JsonNode?)c).ToArray()),
                    ["env"] = _spec["env"]?.DeepClone(),
                    ["envFrom"] = _spec["envFrom"]?.DeepClone(),
                    ["workingDir"] = _spec["workingDir"]?.DeepClone(),
                });
                var info = new ProcessStartInfo(launch.Executable) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = launch.WorkingDirectory };
                foreach (var a in launch.Arguments) info.ArgumentList.Add(a);
                foreach (var (k, v) in launch.Environment) info.Environment[k] = v;
                using var p = Process.Start(info)!;
                var output = p.StandardOutput.ReadToEndAsync(cts.Token);
                try
                {
                    await p.WaitForExitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    p.Kill(entireProcessTree: true);
                    throw;
                }
                return p.ExitCode == 0 ? (true, "") : (false, $"command exited with {p.ExitCode}: {(await output).Trim()}");
            }
            return (false, "only httpGet, tcpSocket and exec probes are supported on the dev cluster (grpc is not)");
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            return (false, $"timeout after {timeout.TotalSeconds:0}s");
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or IOException or ContainerConfigException or Win32Exception)
        {
            return (false, e.Message);
        }
    }

    private int ResolvePort(JsonNode? port)
    {
        if (port is JsonValue v && v.TryGetValue<long>(out var n)) return (int)n;
        var text = port?.ToString() ?? "";
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed)) return parsed;
        foreach (var p in (_spec["ports"] as JsonArray ?? []).OfType<JsonObject>())
        {
            if ((string?)p["name"] == text) return (int)(JsonPaths.GetLong(p, "containerPort") ?? 0);
        }
        throw new ContainerConfigException("CreateContainerConfigError", $"probe port \"{text}\" is not a number nor the name of a port of container {Name}");
    }
}
