using System.Diagnostics;
using System.Runtime.InteropServices;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Microsoft.Extensions.Logging;

namespace Dynamo.Planner.Connectors;

/// <summary>How <see cref="LocalWorkerConnector"/> starts a <c>dynamo worker</c> process.</summary>
public sealed record LocalWorkerLaunch
{
    /// <summary>The program: the <c>dynamo</c> executable, or <c>dotnet</c> with <see cref="LeadingArguments"/> naming <c>dynamo.dll</c>.</summary>
    public required string Executable { get; init; }

    /// <summary>Arguments before the verb (<c>dynamo.dll</c> when <see cref="Executable"/> is <c>dotnet</c>).</summary>
    public IReadOnlyList<string> LeadingArguments { get; init; } = [];

    /// <summary>Flags every worker gets after <c>worker --role R --instance-id ID</c>: NATS, cluster secret, engine, model…</summary>
    public IReadOnlyList<string> WorkerArguments { get; init; } = [];

    /// <summary>Environment variables set for every worker.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Start each worker in a session of its own (through <c>setsid</c>, where installed), so a signal meant for the
    /// planner's process group (Ctrl-C in its terminal, <c>kill -TERM -PGID</c>) does not reach the workers too: they
    /// are drained by the connector alone, once (a second signal would stop a draining worker at once). Default true.
    /// </summary>
    public bool OwnSession { get; init; } = true;

    /// <summary>How long a worker may drain after SIGTERM before it is killed.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// The <c>local</c> connector: each worker is a <c>dynamo worker</c> process on this machine, started with the
/// deployment's NATS, cluster secret and model, and ready once it is registered in NATS discovery under the instance
/// id it was given. Scale-down sends SIGTERM, which drains the worker (it leaves discovery, finishes its streams, then
/// exits); one still running after <see cref="LocalWorkerLaunch.StopTimeout"/> is killed. Workers not ready yet are
/// stopped first, then the newest. A worker that exits on its own is logged and replaced at the next reconciliation;
/// one that never becomes ready is given up by the planner's ready timeout.
/// </summary>
public sealed partial class LocalWorkerConnector : IScalingConnector, IAsyncDisposable
{
    private const int OutputTailLines = 20;

    private readonly LocalWorkerLaunch _launch;
    private readonly IDiscovery _discovery;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<WorkerRole, int> _desired;
    private readonly List<LocalWorker> _workers = [];
    private readonly List<Task> _stopping = [];
    private readonly List<(string InstanceId, int ExitCode, bool Drained)> _exited = [];
    private int _disposed;

    /// <param name="initial">The pools and the workers each starts with.</param>
    public LocalWorkerConnector(LocalWorkerLaunch launch, IDiscovery discovery, IReadOnlyDictionary<WorkerRole, int> initial, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(launch);
        ArgumentNullException.ThrowIfNull(discovery);
        ArgumentNullException.ThrowIfNull(initial);
        ArgumentNullException.ThrowIfNull(logger);
        _launch = launch;
        _discovery = discovery;
        _logger = logger;
        _desired = new Dictionary<WorkerRole, int>(initial);
    }

    public string Name => "local";

    /// <summary>The processes now running (starting, ready or draining), for tests and logs.</summary>
    public IReadOnlyList<(string InstanceId, WorkerRole Role, int ProcessId, bool Draining)> Processes
    {
        get
        {
            lock (_lock)
            {
                return [.. _workers.Select(w => (w.InstanceId, w.Role, w.Process.Id, w.Draining))];
            }
        }
    }

    /// <summary>Workers gone so far: drained by this connector (<c>Drained</c>) or exited on their own, with their exit codes.</summary>
    public IReadOnlyList<(string InstanceId, int ExitCode, bool Drained)> Exited
    {
        get
        {
            lock (_lock)
            {
                return [.. _exited];
            }
        }
    }

    public Task<IReadOnlyList<PoolState>> GetPoolsAsync(CancellationToken cancellationToken)
    {
        Reconcile();
        var registered = _discovery.GetInstances().Select(i => i.InstanceId).ToHashSet(StringComparer.Ordinal);
        lock (_lock)
        {
            IReadOnlyList<PoolState> pools = [.. _desired.OrderBy(p => p.Key).Select(p =>
            {
                var live = _workers.Where(w => w.Role == p.Key && !w.Draining && !w.Process.HasExited).ToList();
                return new PoolState(p.Key, p.Value, live.Count, live.Count(w => registered.Contains(w.InstanceId)));
            })];
            return Task.FromResult(pools);
        }
    }

    public Task SetTargetsAsync(ScalingTargets targets, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targets);
        lock (_lock)
        {
            foreach (var (role, count) in targets.Workers)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(count, nameof(targets));
                _desired[role] = count;
            }
        }

        LogTargets(_logger, string.Join(", ", targets.Workers.Select(t => $"{PoolNames.Of(t.Key)} {t.Value}")), targets.Reason);
        Reconcile();
        return Task.CompletedTask;
    }

    /// <summary>Starts what is missing and drains what is too many, pool by pool.</summary>
    public void Reconcile()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        var registered = _discovery.GetInstances().Select(i => i.InstanceId).ToHashSet(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (var exited in _workers.Where(w => !w.Draining && w.Process.HasExited).ToList())
            {
                LogExited(_logger, exited.InstanceId, exited.Process.ExitCode, exited.Tail());
                _exited.Add((exited.InstanceId, exited.Process.ExitCode, false));
                _workers.Remove(exited);
                exited.Process.Dispose();
            }

            foreach (var (role, desired) in _desired)
            {
                var live = _workers.Where(w => w.Role == role && !w.Draining).ToList();
                for (var i = live.Count; i < desired; i++)
                {
                    _workers.Add(Launch(role));
                }

                // Too many: the ones not serving yet go first, then the newest.
                foreach (var worker in live.OrderBy(w => registered.Contains(w.InstanceId)).ThenByDescending(w => w.Started).Take(Math.Max(0, live.Count - desired)))
                {
                    worker.Draining = true;
                    _stopping.Add(StopAsync(worker));
                }
            }

            _stopping.RemoveAll(t => t.IsCompleted);
        }
    }

    /// <summary>Drains every worker this connector started (SIGTERM, then kill past the stop timeout) and waits for them.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Task[] stops;
        lock (_lock)
        {
            foreach (var worker in _workers.Where(w => !w.Draining))
            {
                worker.Draining = true;
                _stopping.Add(StopAsync(worker));
            }

            stops = [.. _stopping];
        }

        await Task.WhenAll(stops).ConfigureAwait(false);
    }

    private LocalWorker Launch(WorkerRole role)
    {
        var instanceId = $"{PoolNames.Of(role)}-{Guid.NewGuid().ToString("N")[..8]}";
        // setsid(1) calls setsid() and execs in place (a child of this process never leads a process group, so it
        // does not fork): the pid stays the worker's.
        var setsid = _launch.OwnSession ? SetsidPath() : null;
        var start = new ProcessStartInfo(setsid ?? _launch.Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (setsid is not null)
        {
            start.ArgumentList.Add(_launch.Executable);
        }

        foreach (var argument in _launch.LeadingArguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add("worker");
        start.ArgumentList.Add("--role");
        start.ArgumentList.Add(role == WorkerRole.Aggregated ? "agg" : PoolNames.Of(role));
        start.ArgumentList.Add("--instance-id");
        start.ArgumentList.Add(instanceId);
        foreach (var argument in _launch.WorkerArguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in _launch.Environment)
        {
            start.Environment[name] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var worker = new LocalWorker(instanceId, role, process, DateTimeOffset.UtcNow);
        process.OutputDataReceived += (_, e) => worker.OnLine(e.Data, _logger);
        process.ErrorDataReceived += (_, e) => worker.OnLine(e.Data, _logger);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        LogStarted(_logger, instanceId, PoolNames.Of(role), process.Id);
        return worker;
    }

    private async Task StopAsync(LocalWorker worker)
    {
        var process = worker.Process;
        if (!process.HasExited)
        {
            LogStopping(_logger, worker.InstanceId, process.Id, _launch.StopTimeout.TotalSeconds);
            if (SendSignal(process.Id, SigTerm) != 0 && !process.HasExited)
            {
                LogSignalFailed(_logger, worker.InstanceId, process.Id, Marshal.GetLastPInvokeError());
                process.Kill(entireProcessTree: true);
            }

            try
            {
                await process.WaitForExitAsync().WaitAsync(_launch.StopTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                LogKilled(_logger, worker.InstanceId, _launch.StopTimeout.TotalSeconds);
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().ConfigureAwait(false);
            }
        }

        if (process.ExitCode == 0)
        {
            LogStopped(_logger, worker.InstanceId, process.ExitCode);
        }
        else
        {
            // A drain that ends in an error is worth its output: the worker's own last lines say why.
            LogStoppedWithError(_logger, worker.InstanceId, process.ExitCode, worker.Tail());
        }

        lock (_lock)
        {
            _workers.Remove(worker);
            _exited.Add((worker.InstanceId, process.ExitCode, true));
        }

        process.Dispose();
    }

    private const int SigTerm = 15;

    private static string? SetsidPath() =>
        new[] { "/usr/bin/setsid", "/bin/setsid", "/usr/local/bin/setsid" }.FirstOrDefault(File.Exists);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);

    [LoggerMessage(Level = LogLevel.Information, Message = "Local connector: targets {Targets} ({Reason})")]
    private static partial void LogTargets(ILogger logger, string targets, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Local connector: started {InstanceId} ({Pool}) as pid {Pid}")]
    private static partial void LogStarted(ILogger logger, string instanceId, string pool, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Local connector: draining {InstanceId} (pid {Pid}, SIGTERM; killed after {Seconds} s)")]
    private static partial void LogStopping(ILogger logger, string instanceId, int pid, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Local connector: {InstanceId} stopped (exit code {ExitCode})")]
    private static partial void LogStopped(ILogger logger, string instanceId, int exitCode);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Local connector: {InstanceId} stopped after SIGTERM with exit code {ExitCode}. Its last output:\n{Tail}")]
    private static partial void LogStoppedWithError(ILogger logger, string instanceId, int exitCode, string tail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Local connector: {InstanceId} still running {Seconds} s after SIGTERM; killed")]
    private static partial void LogKilled(ILogger logger, string instanceId, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Local connector: SIGTERM to {InstanceId} (pid {Pid}) failed (errno {Errno}); killed")]
    private static partial void LogSignalFailed(ILogger logger, string instanceId, int pid, int errno);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Local connector: {InstanceId} exited on its own (exit code {ExitCode}); it is replaced. Its last output:\n{Tail}")]
    private static partial void LogExited(ILogger logger, string instanceId, int exitCode, string tail);

    [LoggerMessage(Level = LogLevel.Debug, Message = "[{InstanceId}] {Line}")]
    private static partial void LogWorkerLine(ILogger logger, string instanceId, string line);

    private sealed class LocalWorker(string instanceId, WorkerRole role, Process process, DateTimeOffset started)
    {
        private readonly Queue<string> _tail = new();

        public string InstanceId { get; } = instanceId;

        public WorkerRole Role { get; } = role;

        public Process Process { get; } = process;

        public DateTimeOffset Started { get; } = started;

        public bool Draining { get; set; }

        public void OnLine(string? line, ILogger logger)
        {
            if (line is null)
            {
                return;
            }

            LogWorkerLine(logger, InstanceId, line);
            lock (_tail)
            {
                _tail.Enqueue(line);
                if (_tail.Count > OutputTailLines)
                {
                    _tail.Dequeue();
                }
            }
        }

        public string Tail()
        {
            lock (_tail)
            {
                return string.Join('\n', _tail);
            }
        }
    }
}
