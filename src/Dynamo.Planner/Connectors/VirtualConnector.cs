using Dynamo.Contracts;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Logging;

namespace Dynamo.Planner.Connectors;

/// <summary>
/// The <c>virtual</c> connector: the planner decides, an outside system runs the workers. Targets go out on
/// <see cref="EventSubjects.PlannerTargets"/>; the system answers on <see cref="EventSubjects.PlannerStatus"/> with the
/// sequence it applied and each pool's counts. Until the newest targets are acknowledged they are published again at
/// every <see cref="GetPoolsAsync"/>, so a system that was down or restarted catches up. Without a status newer than
/// <c>statusTimeout</c> the pools are unknown and <see cref="GetPoolsAsync"/> throws (the planner holds).
/// </summary>
public sealed partial class VirtualConnector : IScalingConnector, IAsyncDisposable
{
    private readonly IEventPlane _events;
    private readonly TimeProvider _time;
    private readonly TimeSpan _statusTimeout;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly Lock _lock = new();
    private PlannerStatusMessage? _status;
    private DateTimeOffset _statusReceived;
    private PlannerTargetsMessage? _sent;
    private long _sequence;

    private VirtualConnector(IEventPlane events, TimeProvider time, TimeSpan statusTimeout, ILogger logger)
    {
        _events = events;
        _time = time;
        _statusTimeout = statusTimeout;
        _logger = logger;
        _sequence = time.GetUtcNow().ToUnixTimeMilliseconds();
        _loop = ListenAsync(_stop.Token);
    }

    public string Name => "virtual";

    /// <summary>The newest targets published; null before the first.</summary>
    public PlannerTargetsMessage? LastSent
    {
        get
        {
            lock (_lock)
            {
                return _sent;
            }
        }
    }

    /// <summary>Subscribes to the status subject now; statuses published before this call are not seen.</summary>
    public static VirtualConnector Start(IEventPlane events, TimeSpan statusTimeout, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(statusTimeout, TimeSpan.Zero);
        return new VirtualConnector(events, time ?? TimeProvider.System, statusTimeout, logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
    }

    public async Task<IReadOnlyList<PoolState>> GetPoolsAsync(CancellationToken cancellationToken)
    {
        PlannerStatusMessage status;
        PlannerTargetsMessage? unacknowledged;
        lock (_lock)
        {
            if (_status is null)
            {
                throw new InvalidOperationException($"no status from the outside system on '{EventSubjects.PlannerStatus}' yet");
            }

            var age = _time.GetUtcNow() - _statusReceived;
            if (age > _statusTimeout)
            {
                throw new InvalidOperationException($"the outside system's last status on '{EventSubjects.PlannerStatus}' is {age.TotalSeconds:F0} s old (more than {_statusTimeout.TotalSeconds:F0} s)");
            }

            status = _status;
            unacknowledged = _sent is { } sent && status.Acknowledged < sent.Sequence ? sent : null;
        }

        if (unacknowledged is not null)
        {
            await _events.PublishAsync(EventSubjects.PlannerTargets, unacknowledged, cancellationToken).ConfigureAwait(false);
        }

        var pools = new List<PoolState>();
        foreach (var pool in status.Pools)
        {
            if (!PoolNames.TryParse(pool.Pool, out var role))
            {
                continue;
            }

            // Desired is what the planner last asked for, whether or not the system has applied it yet.
            var desired = unacknowledged is not null && unacknowledged.Targets.TryGetValue(PoolNames.Of(role), out var asked) ? asked : pool.Desired;
            pools.Add(new PoolState(role, desired, pool.Actual, pool.Ready));
        }

        return pools;
    }

    public async Task SetTargetsAsync(ScalingTargets targets, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targets);
        PlannerTargetsMessage message;
        lock (_lock)
        {
            var merged = new Dictionary<string, int>(StringComparer.Ordinal);
            if (_status is not null)
            {
                foreach (var pool in _status.Pools)
                {
                    merged[pool.Pool] = pool.Desired;
                }
            }

            if (_sent is not null)
            {
                foreach (var (pool, count) in _sent.Targets)
                {
                    merged[pool] = count;
                }
            }

            foreach (var (role, count) in targets.Workers)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(count, nameof(targets));
                merged[PoolNames.Of(role)] = count;
            }

            _sequence = Math.Max(_sequence + 1, _time.GetUtcNow().ToUnixTimeMilliseconds());
            message = new PlannerTargetsMessage(_sequence, merged, targets.Reason, _time.GetUtcNow());
            _sent = message;
        }

        await _events.PublishAsync(EventSubjects.PlannerTargets, message, cancellationToken).ConfigureAwait(false);
        LogPublished(_logger, message.Sequence, string.Join(", ", message.Targets.Select(t => $"{t.Key} {t.Value}")));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task ListenAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var status in _events.SubscribeAsync<PlannerStatusMessage>(EventSubjects.PlannerStatus, cancellationToken).ConfigureAwait(false))
                {
                    if (status.Pools is null)
                    {
                        continue;
                    }

                    lock (_lock)
                    {
                        // A status that acknowledges less than one already seen arrived late: keep the newer one's acknowledgement.
                        var acknowledged = Math.Max(status.Acknowledged, _status?.Acknowledged ?? 0);
                        _status = status with { Acknowledged = acknowledged };
                        _statusReceived = _time.GetUtcNow();
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogListenFailed(_logger, ex.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Virtual connector: published targets #{Sequence}: {Targets}")]
    private static partial void LogPublished(ILogger logger, long sequence, string targets);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Virtual connector: the planner_status subscription failed ({Reason}); subscribing again")]
    private static partial void LogListenFailed(ILogger logger, string reason);
}
