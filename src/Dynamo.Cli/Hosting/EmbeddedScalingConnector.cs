using Dynamo.Contracts;
using Dynamo.Planner;
using Dynamo.Worker;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Hosting;

/// <summary>
/// The <c>embedded</c> connector (<c>dynamo serve --planner</c>): adds and drains in-process workers of each pool of an
/// <see cref="EmbeddedCluster"/>. Targets are carried out in the background, one start at a time; a worker removed
/// leaves discovery at once, finishes its streams and then stops (<see cref="EmbeddedCluster.DrainWorkerAsync"/>), so
/// no request is lost, and it no longer counts as actual while it drains. The newest workers go first.
/// </summary>
public sealed partial class EmbeddedScalingConnector : IScalingConnector, IAsyncDisposable
{
    private readonly EmbeddedCluster _cluster;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<WorkerRole, int> _desired;
    private readonly Dictionary<WorkerRole, int> _starting = [];
    private readonly HashSet<WorkerHost> _draining = [];
    private readonly List<Task> _drains = [];
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    /// <param name="roles">The pools the cluster has (prefill and decode, or aggregated); each starts at its current size.</param>
    public EmbeddedScalingConnector(EmbeddedCluster cluster, IReadOnlyList<WorkerRole> roles, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(roles);
        ArgumentNullException.ThrowIfNull(logger);
        _cluster = cluster;
        _logger = logger;
        _desired = roles.ToDictionary(r => r, r => cluster.Workers.Count(w => w.Instance.Role == r));
        _loop = ReconcileLoopAsync(_stop.Token);
    }

    public string Name => "embedded";

    public Task<IReadOnlyList<PoolState>> GetPoolsAsync(CancellationToken cancellationToken)
    {
        var serving = _cluster.Workers;
        lock (_lock)
        {
            IReadOnlyList<PoolState> pools = [.. _desired.OrderBy(p => p.Key).Select(p =>
            {
                var ready = serving.Count(w => w.Instance.Role == p.Key && !_draining.Contains(w));
                return new PoolState(p.Key, p.Value, ready + _starting.GetValueOrDefault(p.Key), ready);
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
                if (!_desired.ContainsKey(role))
                {
                    throw new ArgumentException($"This cluster has no {PoolNames.Of(role)} pool (pools: {string.Join(", ", _desired.Keys.Select(PoolNames.Of))}).", nameof(targets));
                }

                ArgumentOutOfRangeException.ThrowIfNegative(count, nameof(targets));
            }

            foreach (var (role, count) in targets.Workers)
            {
                _desired[role] = count;
            }
        }

        LogTargets(_logger, string.Join(", ", targets.Workers.Select(t => $"{PoolNames.Of(t.Key)} {t.Value}")), targets.Reason);
        _wake.Release();
        return Task.CompletedTask;
    }

    /// <summary>Stops carrying out targets and waits for the drains under way.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        Task[] drains;
        lock (_lock)
        {
            drains = [.. _drains];
        }

        await Task.WhenAll(drains);
        _stop.Dispose();
        _wake.Dispose();
    }

    private async Task ReconcileLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await _wake.WaitAsync(cancellationToken);
                try
                {
                    await ReconcileAsync(cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // The planner sees the pool short and asks again (or gives the worker up after its ready timeout).
                    LogReconcileFailed(_logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            WorkerRole? grow = null;
            lock (_lock)
            {
                var serving = _cluster.Workers;
                foreach (var (role, desired) in _desired)
                {
                    var live = serving.Where(w => w.Instance.Role == role && !_draining.Contains(w)).ToList();
                    if (live.Count < desired)
                    {
                        grow ??= role;
                        continue;
                    }

                    // Too many: drain the newest (the last started) first; each drain runs on its own.
                    foreach (var worker in live.AsEnumerable().Reverse().Take(live.Count - desired))
                    {
                        _draining.Add(worker);
                        _drains.Add(DrainAsync(worker));
                    }
                }

                _drains.RemoveAll(t => t.IsCompleted);
                if (grow is { } role2)
                {
                    _starting[role2] = _starting.GetValueOrDefault(role2) + 1;
                }
            }

            if (grow is not { } role1)
            {
                return;
            }

            try
            {
                await _cluster.AddWorkerAsync(role1, cancellationToken);
            }
            finally
            {
                lock (_lock)
                {
                    _starting[role1]--;
                }
            }
        }
    }

    private async Task DrainAsync(WorkerHost worker)
    {
        await Task.Yield();
        try
        {
            await _cluster.DrainWorkerAsync(worker, CancellationToken.None);
        }
        catch (Exception ex)
        {
            LogDrainFailed(_logger, worker.Instance.InstanceId, ex);
        }
        finally
        {
            lock (_lock)
            {
                _draining.Remove(worker);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Embedded connector: targets {Targets} ({Reason})")]
    private static partial void LogTargets(ILogger logger, string targets, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Embedded connector: could not carry out the targets; the planner will ask again")]
    private static partial void LogReconcileFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Embedded connector: draining {InstanceId} failed")]
    private static partial void LogDrainFailed(ILogger logger, string instanceId, Exception exception);
}
