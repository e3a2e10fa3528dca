using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.KvCache;
using Dynamo.Runtime.Events;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Router.Indexing;

/// <summary>
/// Keeps a <see cref="PrefixIndex"/> equal to the workers' KV caches from their event streams (design: KV blocks and
/// hashing; issue 5, event consistency).
/// </summary>
/// <remarks>
/// <para>Per worker, events must arrive with consecutive ids. A duplicate (id already applied) is dropped. A gap asks
/// the worker to replay the missing range (<see cref="IKvEventControl.GetEventsAsync"/>) while later events wait; when
/// the worker answers that the range has left its replay buffer, or the replay fails, the indexer asks for a full dump
/// instead. A worker the indexer meets (<see cref="AddWorker"/>, which discovery drives, and every worker known when
/// the indexer starts) is dumped first: the dump replaces whatever the index held for it, and buffered events newer
/// than the dump follow.</para>
/// <para>Without control calls (no <see cref="IKvEventControl"/>) nothing can be repaired: each worker's stream is
/// followed as it comes. A worker whose dump keeps failing is followed the same way ("unsynced") and logged.</para>
/// <para>Thread-safety: any thread may call any member. State changes are serialized by one lock; the index itself
/// is read without locks by the router.</para>
/// </remarks>
public sealed partial class KvIndexer : IAsyncDisposable
{
    private readonly PrefixIndex _index;
    private readonly IKvEventControl? _control;
    private readonly KvIndexerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, WorkerState> _states = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource _synced = NewSynced(completed: true);
    private int _unsynced;
    private IDiscovery? _discovery;
    private Task? _loop;
    private long _applied;
    private long _duplicates;
    private long _gaps;
    private long _replays;
    private long _replaysGone;
    private long _dumps;
    private long _failures;
    private long _ignored;

    public KvIndexer(PrefixIndex index, IKvEventControl? control, KvIndexerOptions? options = null, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(index);
        _index = index;
        _control = control;
        _options = options ?? new KvIndexerOptions();
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    public PrefixIndex Index => _index;

    public KvIndexerStats Stats => new(
        Interlocked.Read(ref _applied),
        Interlocked.Read(ref _duplicates),
        Interlocked.Read(ref _gaps),
        Interlocked.Read(ref _replays),
        Interlocked.Read(ref _replaysGone),
        Interlocked.Read(ref _dumps),
        Interlocked.Read(ref _failures),
        Interlocked.Read(ref _ignored));

    /// <summary>
    /// Subscribes to <paramref name="subject"/> on <paramref name="events"/> and follows <paramref name="discovery"/>:
    /// every worker registered now or later is dumped, every worker that leaves is purged. The subscription is in
    /// place before the first dump is asked for, so nothing falls between a dump and the stream.
    /// </summary>
    public void Start(IEventPlane events, string subject, IDiscovery? discovery)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (_loop is not null)
        {
            throw new InvalidOperationException("The indexer is already started.");
        }

        var token = _stopping.Token;
        var enumerator = events.SubscribeAsync<KvEvent>(subject, token).GetAsyncEnumerator(token);
        var first = enumerator.MoveNextAsync();
        _loop = ConsumeAsync(enumerator, first);
        if (discovery is not null)
        {
            _discovery = discovery;
            discovery.Changed += OnDiscoveryChanged;
            foreach (var instance in discovery.GetInstances())
            {
                AddWorker(instance);
            }
        }
    }

    /// <summary>Whether <paramref name="workerId"/>'s index entries are up to date with the events seen so far.</summary>
    public bool IsSynced(string workerId)
    {
        lock (_lock)
        {
            return _states.TryGetValue(workerId, out var state) && state.Phase is Phase.Live;
        }
    }

    /// <summary>Completes when no worker waits for a dump or a replay.</summary>
    public Task WhenSyncedAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return _unsynced == 0 ? Task.CompletedTask : _synced.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>A worker joined: dump it (unless a dump is already on its way) and follow its stream from there.</summary>
    public void AddWorker(WorkerInstance instance)
    {
        ArgumentNullException.ThrowIfNull(instance);
        ControlRequest? request;
        lock (_lock)
        {
            if (_states.TryGetValue(instance.InstanceId, out var state))
            {
                state.Instance = instance;
                request = state.Phase is Phase.AwaitingDump && !state.InFlight ? IssueLocked(state, dump: true, 0, 0) : null;
            }
            else
            {
                state = NewStateLocked(instance.InstanceId, instance);
                request = _control is null ? null : RequestDumpLocked(state);
                if (_control is null)
                {
                    SetPhaseLocked(state, Phase.Live);
                }
            }
        }

        Dispatch(request);
    }

    /// <summary>A worker left: purge it from the index and forget its stream. Idempotent.</summary>
    public void RemoveWorker(string workerId)
    {
        lock (_lock)
        {
            if (_states.Remove(workerId, out var state))
            {
                SetPhaseLocked(state, Phase.Removed);
            }
        }

        _index.RemoveWorker(workerId);
    }

    /// <summary>One event from the live stream.</summary>
    public void Apply(KvEvent kvEvent)
    {
        ArgumentNullException.ThrowIfNull(kvEvent);
        ControlRequest? request = null;
        lock (_lock)
        {
            if (!_states.TryGetValue(kvEvent.WorkerId, out var state))
            {
                if (_control is not null)
                {
                    // Not registered yet (or already gone): the dump taken when it registers covers this event.
                    _ignored++;
                    return;
                }

                state = NewStateLocked(kvEvent.WorkerId, null);
                state.LastId = kvEvent.EventId - 1;
                SetPhaseLocked(state, Phase.Live);
            }

            request = OnEventLocked(state, kvEvent);
        }

        Dispatch(request);
    }

    public async ValueTask DisposeAsync()
    {
        if (_discovery is not null)
        {
            _discovery.Changed -= OnDiscoveryChanged;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping.
            }
        }

        _stopping.Dispose();
    }

    private ControlRequest? OnEventLocked(WorkerState state, KvEvent kvEvent)
    {
        switch (state.Phase)
        {
            case Phase.Live:
                if (kvEvent.EventId <= state.LastId)
                {
                    _duplicates++;
                    return null;
                }

                if (kvEvent.EventId == state.LastId + 1)
                {
                    ApplyLocked(state, kvEvent);
                    return null;
                }

                _gaps++;
                if (_control is null)
                {
                    ApplyLocked(state, kvEvent);
                    return null;
                }

                LogGap(_logger, state.Id, state.LastId + 1, kvEvent.EventId - 1);
                state.Pending.Add(kvEvent);
                return RequestReplayLocked(state, state.LastId + 1, kvEvent.EventId - 1);
            case Phase.Unsynced:
                if (kvEvent.EventId > state.LastId)
                {
                    ApplyLocked(state, kvEvent);
                }

                return null;
            default:
                if (state.Phase is Phase.AwaitingReplay && kvEvent.EventId <= state.LastId)
                {
                    _duplicates++;
                    return null;
                }

                state.Pending.Add(kvEvent);
                if (state.Pending.Count > _options.MaxPendingEvents)
                {
                    // Too far behind to catch up event by event: start over from a dump.
                    state.Pending.Clear();
                    return state.Phase is Phase.AwaitingDump ? null : RequestDumpLocked(state);
                }

                return null;
        }
    }

    private void ApplyLocked(WorkerState state, KvEvent kvEvent)
    {
        _index.Apply(state.Slot, kvEvent);
        state.LastId = kvEvent.EventId;
        _applied++;
    }

    /// <summary>Applies buffered events in id order; stops at the next gap and asks for it.</summary>
    private ControlRequest? DrainLocked(WorkerState state)
    {
        var pending = state.Pending;
        if (pending.Count == 0)
        {
            return null;
        }

        pending.Sort(static (a, b) => a.EventId.CompareTo(b.EventId));
        var i = 0;
        for (; i < pending.Count; i++)
        {
            var kvEvent = pending[i];
            if (kvEvent.EventId <= state.LastId)
            {
                continue;
            }

            if (kvEvent.EventId != state.LastId + 1)
            {
                break;
            }

            ApplyLocked(state, kvEvent);
        }

        pending.RemoveRange(0, i);
        if (pending.Count == 0)
        {
            return null;
        }

        _gaps++;
        return RequestReplayLocked(state, state.LastId + 1, pending[0].EventId - 1);
    }

    private ControlRequest? RequestReplayLocked(WorkerState state, long from, long to)
    {
        SetPhaseLocked(state, Phase.AwaitingReplay);
        return IssueLocked(state, dump: false, from, to);
    }

    private ControlRequest? RequestDumpLocked(WorkerState state)
    {
        SetPhaseLocked(state, Phase.AwaitingDump);
        return IssueLocked(state, dump: true, 0, 0);
    }

    private ControlRequest? IssueLocked(WorkerState state, bool dump, long from, long to)
    {
        state.Version++;
        if (state.Instance is null)
        {
            // No address yet: AddWorker asks for the dump when discovery announces the worker.
            state.InFlight = false;
            return null;
        }

        state.InFlight = true;
        if (dump)
        {
            _dumps++;
        }
        else
        {
            _replays++;
        }

        return new ControlRequest(state, state.Version, dump, from, to);
    }

    private void Dispatch(ControlRequest? request)
    {
        if (request is { } r)
        {
            _ = RunAsync(r);
        }
    }

    private async Task RunAsync(ControlRequest request)
    {
        var control = _control!;
        var worker = request.State.Instance!;
        var token = _stopping.Token;
        ControlRequest? next;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (request.Dump)
                {
                    var dump = await control.DumpAsync(worker, token).ConfigureAwait(false);
                    next = OnDump(request, dump);
                }
                else
                {
                    var replay = await control.GetEventsAsync(worker, request.From, request.To, token).ConfigureAwait(false);
                    next = OnReplay(request, replay);
                }

                break;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Interlocked.Increment(ref _failures);
                LogControlFailed(_logger, request.Dump ? "dump" : "replay", worker.InstanceId, attempt, ex.Message);
                if (!request.Dump || attempt >= _options.DumpAttempts)
                {
                    next = OnFailed(request);
                    break;
                }

                try
                {
                    await Task.Delay(_options.RetryDelay * (1 << Math.Min(attempt - 1, 6)), _time, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                lock (_lock)
                {
                    if (!IsCurrentLocked(request))
                    {
                        return;
                    }
                }
            }
        }

        Dispatch(next);
    }

    private ControlRequest? OnDump(ControlRequest request, KvDump dump)
    {
        lock (_lock)
        {
            if (!IsCurrentLocked(request))
            {
                return null;
            }

            var state = request.State;
            state.InFlight = false;
            _index.ClearWorker(state.Slot);
            _index.Apply(state.Slot, dump.Events);
            state.LastId = dump.LastEventId;
            SetPhaseLocked(state, Phase.Live);
            LogDumped(_logger, state.Id, dump.Events.Count, dump.LastEventId);
            return DrainLocked(state);
        }
    }

    private ControlRequest? OnReplay(ControlRequest request, ReplayResult replay)
    {
        lock (_lock)
        {
            if (!IsCurrentLocked(request))
            {
                return null;
            }

            var state = request.State;
            state.InFlight = false;
            if (!replay.IsAvailable)
            {
                _replaysGone++;
                LogReplayGone(_logger, state.Id, request.From, replay.OldestEventId);
                return RequestDumpLocked(state);
            }

            foreach (var kvEvent in replay.Events)
            {
                if (kvEvent.EventId == state.LastId + 1)
                {
                    ApplyLocked(state, kvEvent);
                }
            }

            if (state.LastId < request.To)
            {
                // The worker's ids do not line up with ours (it restarted, or answered something else): start over.
                return RequestDumpLocked(state);
            }

            SetPhaseLocked(state, Phase.Live);
            return DrainLocked(state);
        }
    }

    private ControlRequest? OnFailed(ControlRequest request)
    {
        lock (_lock)
        {
            if (!IsCurrentLocked(request))
            {
                return null;
            }

            var state = request.State;
            state.InFlight = false;
            if (!request.Dump)
            {
                return RequestDumpLocked(state);
            }

            // Out of attempts: follow the stream as it comes rather than stall this worker's events forever.
            LogUnsynced(_logger, state.Id, _options.DumpAttempts);
            SetPhaseLocked(state, Phase.Unsynced);
            state.Pending.Sort(static (a, b) => a.EventId.CompareTo(b.EventId));
            foreach (var kvEvent in state.Pending)
            {
                ApplyLocked(state, kvEvent);
            }

            state.Pending.Clear();
            return null;
        }
    }

    private bool IsCurrentLocked(ControlRequest request) =>
        _states.TryGetValue(request.State.Id, out var state) && ReferenceEquals(state, request.State) && state.Version == request.Version;

    private WorkerState NewStateLocked(string workerId, WorkerInstance? instance)
    {
        var state = new WorkerState(workerId, _index.GetOrAddWorker(workerId)) { Instance = instance };
        _states.Add(workerId, state);
        return state;
    }

    private void SetPhaseLocked(WorkerState state, Phase phase)
    {
        var wasWaiting = state.Phase is Phase.AwaitingDump or Phase.AwaitingReplay;
        var isWaiting = phase is Phase.AwaitingDump or Phase.AwaitingReplay;
        state.Phase = phase;
        if (wasWaiting == isWaiting)
        {
            return;
        }

        if (isWaiting && _unsynced++ == 0)
        {
            _synced = NewSynced(completed: false);
        }
        else if (!isWaiting && --_unsynced == 0)
        {
            _synced.TrySetResult();
        }
    }

    private void OnDiscoveryChanged(DiscoveryChange change)
    {
        if (change.Kind == DiscoveryChangeKind.Added)
        {
            AddWorker(change.Instance);
        }
        else
        {
            RemoveWorker(change.Instance.InstanceId);
        }
    }

    private async Task ConsumeAsync(IAsyncEnumerator<KvEvent> events, ValueTask<bool> first)
    {
        await using (events.ConfigureAwait(false))
        {
            var next = first;
            try
            {
                while (await next.ConfigureAwait(false))
                {
                    Apply(events.Current);
                    next = events.MoveNextAsync();
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                // Stopping.
            }
        }
    }

    private static TaskCompletionSource NewSynced(bool completed)
    {
        var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed)
        {
            source.SetResult();
        }

        return source;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "KV events of {Worker}: gap, asking for a replay of {From}..{To}")]
    private static partial void LogGap(ILogger logger, string worker, long from, long to);

    [LoggerMessage(Level = LogLevel.Information, Message = "KV events of {Worker}: replay from {From} is gone (oldest kept {Oldest}), asking for a dump")]
    private static partial void LogReplayGone(ILogger logger, string worker, long from, long oldest);

    [LoggerMessage(Level = LogLevel.Debug, Message = "KV index of {Worker} rebuilt from a dump of {Events} events as of event {LastEventId}")]
    private static partial void LogDumped(ILogger logger, string worker, int events, long lastEventId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "KV {Call} from {Worker} failed (attempt {Attempt}): {Reason}")]
    private static partial void LogControlFailed(ILogger logger, string call, string worker, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "KV index of {Worker} could not be dumped after {Attempts} attempts; following its events without repair")]
    private static partial void LogUnsynced(ILogger logger, string worker, int attempts);

    private enum Phase
    {
        Live,
        AwaitingDump,
        AwaitingReplay,
        Unsynced,
        Removed,
    }

    private readonly record struct ControlRequest(WorkerState State, int Version, bool Dump, long From, long To);

    private sealed class WorkerState(string id, int slot)
    {
        public string Id { get; } = id;

        public int Slot { get; } = slot;

        public WorkerInstance? Instance { get; set; }

        public Phase Phase { get; set; } = Phase.Live;

        public long LastId { get; set; }

        public List<KvEvent> Pending { get; } = [];

        public int Version { get; set; }

        public bool InFlight { get; set; }
    }
}
