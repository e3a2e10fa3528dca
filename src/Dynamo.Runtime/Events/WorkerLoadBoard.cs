using System.Collections.Concurrent;
using Dynamo.Contracts.Engine;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Logging;

namespace Dynamo.Runtime.Events;

/// <summary>
/// The newest load report of each worker, from the event plane's <see cref="EventSubjects.LoadMetrics"/> subject (in
/// process, or NATS where the plane verifies every message's cluster signature and drops what does not verify). A
/// worker that stopped reporting drops off after <c>maxAge</c>. The planner reads it for its observations, the router
/// for its busy thresholds (<c>Dynamo:Router:BusyKvUsage</c>, <c>BusyWaitingRequests</c>).
/// </summary>
public sealed partial class WorkerLoadBoard : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, (WorkerLoadReport Report, DateTimeOffset Received)> _latest = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly TimeSpan _maxAge;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _received;

    private WorkerLoadBoard(IEventPlane events, TimeProvider time, TimeSpan maxAge, ILogger logger)
    {
        _time = time;
        _maxAge = maxAge;
        _logger = logger;
        _loop = RunAsync(events, _stop.Token);
    }

    /// <summary>Reports received so far.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Subscribes to the load reports on <paramref name="events"/>.</summary>
    public static WorkerLoadBoard Start(IEventPlane events, TimeSpan maxAge, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxAge, TimeSpan.Zero);
        return new WorkerLoadBoard(events, time ?? TimeProvider.System, maxAge, logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
    }

    /// <summary>Each live worker's newest report (received within the max age), ordered by worker id.</summary>
    public IReadOnlyList<WorkerLoadReport> Current()
    {
        var cutoff = _time.GetUtcNow() - _maxAge;
        foreach (var (id, entry) in _latest)
        {
            if (entry.Received < cutoff)
            {
                _latest.TryRemove(new KeyValuePair<string, (WorkerLoadReport, DateTimeOffset)>(id, entry));
            }
        }

        return [.. _latest.Values.Where(e => e.Received >= cutoff).Select(e => e.Report).OrderBy(r => r.WorkerId, StringComparer.Ordinal)];
    }

    /// <summary>How old a report may be (since it arrived) and still count.</summary>
    public TimeSpan MaxAge => _maxAge;

    /// <summary>
    /// Called after each report is taken, on the subscription's thread (keep it short): a reader that acts on a change
    /// (the router's busy thresholds) hears of it at once instead of polling.
    /// </summary>
    public event Action<WorkerLoadReport>? ReportAdded;

    /// <summary><paramref name="workerId"/>'s newest report if it arrived within the max age; null when none or stale.</summary>
    public WorkerLoadReport? Latest(string workerId)
    {
        ArgumentNullException.ThrowIfNull(workerId);
        return _latest.TryGetValue(workerId, out var entry) && entry.Received >= _time.GetUtcNow() - _maxAge ? entry.Report : null;
    }

    /// <summary>Takes a report as if it had arrived on the subject (the subscription calls this).</summary>
    public void Add(WorkerLoadReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        _latest[report.WorkerId] = (report, _time.GetUtcNow());
        Interlocked.Increment(ref _received);
        ReportAdded?.Invoke(report);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task RunAsync(IEventPlane events, CancellationToken cancellationToken)
    {
        await Task.Yield();
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var report in events.SubscribeAsync<WorkerLoadReport>(EventSubjects.LoadMetrics, cancellationToken).ConfigureAwait(false))
                {
                    Add(report);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogSubscriptionFailed(_logger, ex.Message);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "The load_metrics subscription failed ({Reason}); subscribing again")]
    private static partial void LogSubscriptionFailed(ILogger logger, string reason);
}
