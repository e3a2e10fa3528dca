using System.Collections.Concurrent;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.Routing;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Router.Load;

/// <summary>
/// The busy thresholds (<see cref="RouterOptions.BusyKvUsage"/>, <see cref="RouterOptions.BusyWaitingRequests"/>) over
/// the workers' load reports: every router mode takes busy workers out of a request's candidates while some candidate
/// is not busy (<see cref="Free"/>), and the gateway holds a request whose candidates are all busy
/// (<see cref="IWorkerAvailability"/>).
/// </summary>
/// <remarks>
/// A worker is busy when its newest report, received within <see cref="RouterOptions.LoadReportMaxAge"/>, is at or
/// over a threshold; a stale or missing report never makes it busy (a worker that stopped reporting is judged by the
/// rest of the router, not shut out). Between reports the router's own accounting moves the waiting count: when the
/// report showed a queue (waiting &gt; 0), every request this router sent the worker since joins it and every one
/// that completed there lets one in, so a queue that builds up or drains between reports is seen before the next one
/// (without a queue in the report, requests sent there are taken to fit the batch: a lightly loaded worker is never
/// made busy by a burst). KV usage is the report's alone: the router knows neither how long outputs will run nor what
/// the engine evicts. Thread-safe; with no worker near a threshold, <see cref="Free"/> costs one read, and with some, it
/// evaluates only those and filters the candidates by a set.
/// </remarks>
public sealed partial class BusyWorkers : IWorkerAvailability, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, WorkerState> _workers = new(StringComparer.Ordinal);

    // The workers whose newest report could make them busy (over the KV threshold, or any queue), and how many: with
    // none, no test is needed; with some, only they are evaluated, not every candidate.
    private readonly ConcurrentDictionary<string, WorkerState> _flaggedWorkers = new(StringComparer.Ordinal);
    private readonly WorkerLoadBoard _board;
    private readonly bool _ownsBoard;
    private readonly double _kvUsage;
    private readonly int _waiting;
    private readonly TimeProvider _time;
    private readonly long _maxAgeTicks;
    private readonly ILogger _logger;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _flagged;

    /// <param name="board">Where the reports come from; <paramref name="ownsBoard"/>: dispose it with this.</param>
    public BusyWorkers(RouterOptions options, WorkerLoadBoard board, bool ownsBoard, TimeProvider time, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(board);
        ArgumentNullException.ThrowIfNull(time);
        _board = board;
        _ownsBoard = ownsBoard;
        _kvUsage = options.BusyKvUsage;
        _waiting = options.BusyWaitingRequests;
        _time = time;
        _maxAgeTicks = (long)(board.MaxAge.TotalSeconds * time.TimestampFrequency);
        _logger = logger ?? NullLogger.Instance;
        board.ReportAdded += OnReport;
    }

    /// <summary>
    /// Subscribes to the workers' load reports on <paramref name="events"/>; null when both thresholds are off or
    /// there is no event plane (then no worker is ever busy).
    /// </summary>
    public static BusyWorkers? Start(RouterOptions options, IEventPlane? events, TimeProvider time, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (events is null || !options.BusyThresholdsOn)
        {
            return null;
        }

        loggers ??= NullLoggerFactory.Instance;
        var board = WorkerLoadBoard.Start(events, options.LoadReportMaxAge, time, loggers.CreateLogger<WorkerLoadBoard>());
        return new BusyWorkers(options, board, ownsBoard: true, time, loggers.CreateLogger<BusyWorkers>());
    }

    /// <inheritdoc />
    public Task Changed => Volatile.Read(ref _changed).Task;

    /// <summary>
    /// <paramref name="candidates"/> less the busy ones; the list itself when none is busy, or when all are (the caller
    /// decides what all-busy means: the gateway holds the request before it asks the router).
    /// </summary>
    public IReadOnlyList<WorkerInstance> Free(IReadOnlyList<WorkerInstance> candidates)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (Volatile.Read(ref _flagged) == 0 || candidates.Count < 2)
        {
            return candidates;
        }

        // The flagged workers are few next to the candidates (a thousand of them, say): evaluate those, then filter by set.
        var now = _time.GetTimestamp();
        HashSet<string>? busy = null;
        foreach (var (id, state) in _flaggedWorkers)
        {
            if (Evaluate(id, state, now) != Reasons.None)
            {
                (busy ??= new HashSet<string>(StringComparer.Ordinal)).Add(id);
            }
        }

        if (busy is null)
        {
            return candidates;
        }

        var free = new List<WorkerInstance>(candidates.Count);
        for (var i = 0; i < candidates.Count; i++)
        {
            if (!busy.Contains(candidates[i].InstanceId))
            {
                free.Add(candidates[i]);
            }
        }

        return free.Count == 0 || free.Count == candidates.Count ? candidates : free;
    }

    /// <inheritdoc />
    public bool AllBusy(IReadOnlyList<WorkerInstance> candidates)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (Volatile.Read(ref _flagged) == 0 || candidates.Count == 0)
        {
            return false;
        }

        var now = _time.GetTimestamp();
        for (var i = 0; i < candidates.Count; i++)
        {
            if (!IsBusy(candidates[i].InstanceId, now))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether <paramref name="instanceId"/> is busy now.</summary>
    public bool IsBusy(string instanceId) => IsBusy(instanceId, _time.GetTimestamp());

    /// <inheritdoc />
    public int BusyCount(BusyReason reason)
    {
        var now = _time.GetTimestamp();
        var flag = reason == BusyReason.KvUsage ? Reasons.KvUsage : Reasons.WaitingRequests;
        var count = 0;
        foreach (var (id, state) in _workers)
        {
            if ((Evaluate(id, state, now) & flag) != 0)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>This router sent <paramref name="instanceId"/> a request (counted against its queue, see the remarks).</summary>
    public void Routed(string instanceId)
    {
        if (_workers.TryGetValue(instanceId, out var state))
        {
            Interlocked.Increment(ref state.Routed);
        }
    }

    /// <summary>A request on <paramref name="instanceId"/> ended: its queue may have moved, so held requests look again.</summary>
    public void Completed(string instanceId)
    {
        if (_workers.TryGetValue(instanceId, out var state))
        {
            Interlocked.Increment(ref state.Completed);
        }

        Signal();
    }

    /// <summary>A worker left: forget its report.</summary>
    public void RemoveWorker(string instanceId)
    {
        if (_workers.TryRemove(instanceId, out var state))
        {
            _flaggedWorkers.TryRemove(instanceId, out _);
            if (Interlocked.Exchange(ref state.Flagged, 0) == 1)
            {
                Interlocked.Decrement(ref _flagged);
            }

            if (Interlocked.Exchange(ref state.Busy, 0) != 0)
            {
                LogUnbusy(_logger, instanceId);
            }

            Signal();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _board.ReportAdded -= OnReport;
        if (_ownsBoard)
        {
            await _board.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void OnReport(WorkerLoadReport report)
    {
        var state = _workers.GetOrAdd(report.WorkerId, static _ => new WorkerState());
        var flagged = (_kvUsage > 0 && report.Load.KvBlocksTotal > 0 && report.Load.KvUsage >= _kvUsage)
            || (_waiting > 0 && report.Load.WaitingRequests > 0) ? 1 : 0;
        lock (state)
        {
            // The report already counts what was sent and finished before it: the router's own tally starts again.
            state.Report = report;
            state.Received = _time.GetTimestamp();
            Interlocked.Exchange(ref state.Routed, 0);
            Interlocked.Exchange(ref state.Completed, 0);
        }

        if (flagged == 1)
        {
            _flaggedWorkers[report.WorkerId] = state;
        }
        else
        {
            _flaggedWorkers.TryRemove(report.WorkerId, out _);
        }

        var was = Interlocked.Exchange(ref state.Flagged, flagged);
        if (was != flagged)
        {
            Interlocked.Add(ref _flagged, flagged - was);
        }

        Evaluate(report.WorkerId, state, _time.GetTimestamp());
        Signal();
    }

    private bool IsBusy(string instanceId, long now) =>
        _workers.TryGetValue(instanceId, out var state) && Volatile.Read(ref state.Flagged) == 1 && Evaluate(instanceId, state, now) != Reasons.None;

    /// <summary>The thresholds <paramref name="state"/>'s worker is over now; logs a change of busy state.</summary>
    private Reasons Evaluate(string instanceId, WorkerState state, long now)
    {
        WorkerLoadReport? report;
        long received;
        int routed, completed;
        lock (state)
        {
            report = state.Report;
            received = state.Received;
            routed = state.Routed;
            completed = state.Completed;
        }

        var reasons = Reasons.None;
        var waiting = 0;
        if (report is not null && now - received <= _maxAgeTicks)
        {
            var load = report.Load;
            waiting = load.WaitingRequests > 0 ? Math.Max(0, load.WaitingRequests + routed - completed) : 0;
            if (_kvUsage > 0 && load.KvBlocksTotal > 0 && load.KvUsage >= _kvUsage)
            {
                reasons |= Reasons.KvUsage;
            }

            if (_waiting > 0 && waiting >= _waiting)
            {
                reasons |= Reasons.WaitingRequests;
            }
        }

        var before = (Reasons)Interlocked.Exchange(ref state.Busy, (int)reasons);
        if (before != reasons)
        {
            if (reasons == Reasons.None)
            {
                LogUnbusy(_logger, instanceId);
            }
            else if (before == Reasons.None)
            {
                LogBusy(_logger, instanceId, Describe(reasons), report!.Load.KvUsage, waiting);
            }
        }

        return reasons;
    }

    private static string Describe(Reasons reasons) => reasons switch
    {
        Reasons.KvUsage => "kv_usage",
        Reasons.WaitingRequests => "waiting_requests",
        _ => "kv_usage, waiting_requests",
    };

    private void Signal()
    {
        var old = Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        old.TrySetResult();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {Worker} is busy ({Reasons}; KV usage {KvUsage:P0}, {Waiting} waiting): it takes no new requests while another worker can")]
    private static partial void LogBusy(ILogger logger, string worker, string reasons, double kvUsage, int waiting);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {Worker} is no longer busy")]
    private static partial void LogUnbusy(ILogger logger, string worker);

    [Flags]
    private enum Reasons
    {
        None = 0,
        KvUsage = 1,
        WaitingRequests = 2,
    }

    private sealed class WorkerState
    {
        public WorkerLoadReport? Report;
        public long Received;
        public int Routed;
        public int Completed;
        public int Flagged;
        public int Busy;
    }
}
