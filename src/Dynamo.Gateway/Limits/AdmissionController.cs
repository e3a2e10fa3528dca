using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.Errors;
using Dynamo.Gateway.Observability;

namespace Dynamo.Gateway.Limits;

/// <summary>
/// Bounds the sequences the gateway forwards at once. A request holds one slot per sequence it asks for (prompts × n),
/// so one wide request cannot fill every batch slot of the workers while it counts as one. Up to
/// <c>MaxConcurrentRequests</c> slots are held; up to <c>MaxQueuedRequests</c> requests more wait (at most
/// <c>QueueTimeout</c>); the rest are told 429 at once, so an overload sheds load at the door instead of growing queues
/// inside workers. A request wider than every slot (possible only when <c>MaxSequencesPerRequest</c> exceeds
/// <c>MaxConcurrentRequests</c>) waits for all of them and runs alone.
/// </summary>
/// <remarks>
/// The queue is served in order of <c>nvext.priority</c> with aging: a request of priority p queues as if it had
/// arrived p × <c>PriorityAging</c> earlier, so equal priorities are first come first served (a wide request is not
/// starved by narrow ones behind it: only the head is granted) and a low priority is passed only by requests arriving
/// within its handicap, never forever. When the queue is full, an arrival of higher priority than the lowest waiting
/// one takes the place of the youngest of those, which gets the 429 instead (low priority is shed first,
/// <c>dynamo_frontend_requests_shed_total</c>); otherwise the arrival gets it.
/// </remarks>
internal sealed class AdmissionController : IDisposable
{
    private readonly Lock _lock = new();
    private readonly SortedSet<Waiter> _waiters = new(WaiterOrder.Instance);
    private readonly int _capacity;
    private readonly int _maxQueued;
    private readonly TimeSpan _queueTimeout;
    private readonly long _agingTicks;
    private readonly TimeProvider _time;
    private readonly GatewayMetrics _metrics;
    private int _inUse;
    private long _arrivals;

    public AdmissionController(GatewayOptions options, TimeProvider time, GatewayMetrics metrics)
    {
        _capacity = options.MaxConcurrentRequests;
        _maxQueued = options.MaxQueuedRequests;
        _queueTimeout = options.QueueTimeout;
        _agingTicks = (long)(options.PriorityAging.TotalSeconds * time.TimestampFrequency);
        _time = time;
        _metrics = metrics;
    }

    /// <summary>Requests waiting for slots.</summary>
    public int Queued
    {
        get
        {
            lock (_lock)
            {
                return _waiters.Count;
            }
        }
    }

    /// <summary>Slots held, one per admitted sequence.</summary>
    public int AdmittedSequences => Volatile.Read(ref _inUse);

    /// <summary>
    /// Waits for <paramref name="sequences"/> slots, queued by <paramref name="priority"/> (<c>nvext.priority</c>, higher
    /// first); throws a 429 <see cref="OpenAiException"/> when the queue is full of requests of no lower priority, when
    /// the wait times out, or when a higher-priority arrival sheds this request from a full queue.
    /// </summary>
    public async ValueTask<Slot> EnterAsync(int sequences, CancellationToken cancellationToken, int priority = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sequences, 1);
        var weight = Math.Min(sequences, _capacity);
        Waiter waiter;
        Waiter? shed = null;
        lock (_lock)
        {
            if (_waiters.Count == 0 && _inUse + weight <= _capacity)
            {
                _inUse += weight;
                return new Slot(this, weight);
            }

            if (_waiters.Count >= _maxQueued)
            {
                shed = LowestPriority();
                if (shed is null || shed.Priority >= priority)
                {
                    throw ErrorWriter.TooManyRequests("The server is at its configured concurrency and queue limits; retry later.");
                }

                _waiters.Remove(shed);
            }

            var arrival = _time.GetTimestamp();
            waiter = new Waiter(weight, priority, arrival - (priority * _agingTicks), ++_arrivals);
            _waiters.Add(waiter);
            QueueChanged();

            // It may sort ahead of a head that does not fit (a wide request) and fit itself.
            GrantWaiting();
        }

        if (shed is not null)
        {
            _metrics.RequestsShed.Inc();
            shed.Granted.TrySetException(ErrorWriter.TooManyRequests(
                "The server is at its configured concurrency and queue limits, and a request of higher priority took this one's place in the queue; retry later."));
        }

        try
        {
            await waiter.Granted.Task.WaitAsync(_queueTimeout, _time, cancellationToken).ConfigureAwait(false);
            return new Slot(this, weight);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            lock (_lock)
            {
                if (_waiters.Remove(waiter))
                {
                    // Still queued: leave, and let those behind move up if they now fit.
                    QueueChanged();
                    GrantWaiting();
                }
                else if (waiter.Granted.Task.IsFaulted)
                {
                    // Shed in the same instant: it holds nothing.
                }
                else if (!cancellationToken.IsCancellationRequested)
                {
                    // Granted in the same instant as the timeout: take the slots.
                    return new Slot(this, weight);
                }
                else
                {
                    Release(weight);
                }
            }

            if (ex is TimeoutException)
            {
                throw ErrorWriter.TooManyRequests($"No capacity became free within the queue timeout ({_queueTimeout.TotalSeconds:0.#} s); retry later.");
            }

            throw;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var waiter in _waiters)
            {
                waiter.Granted.TrySetCanceled();
            }

            _waiters.Clear();
            QueueChanged();
        }
    }

    private void Exit(int weight)
    {
        lock (_lock)
        {
            Release(weight);
        }
    }

    // Both under _lock.
    private void Release(int weight)
    {
        _inUse -= weight;
        GrantWaiting();
    }

    private void GrantWaiting()
    {
        while (_waiters.Min is { } first && _inUse + first.Weight <= _capacity)
        {
            _waiters.Remove(first);
            QueueChanged();
            _inUse += first.Weight;
            first.Granted.TrySetResult();
        }
    }

    /// <summary>The waiter to shed for a higher-priority arrival: the lowest priority, the youngest of those. Only on a full queue.</summary>
    private Waiter? LowestPriority()
    {
        Waiter? lowest = null;
        foreach (var waiter in _waiters)
        {
            if (lowest is null || waiter.Priority < lowest.Priority || (waiter.Priority == lowest.Priority && waiter.Sequence > lowest.Sequence))
            {
                lowest = waiter;
            }
        }

        return lowest;
    }

    // Under _lock. The gauge follows the queue itself: set around the wait, it would always read what it was before.
    private void QueueChanged() => _metrics.Queued.Set(_waiters.Count);

    internal readonly struct Slot(AdmissionController owner, int weight) : IDisposable
    {
        public void Dispose() => owner.Exit(weight);
    }

    private sealed class Waiter(int weight, int priority, long key, long sequence)
    {
        public int Weight { get; } = weight;

        public int Priority { get; } = priority;

        /// <summary>Arrival time less the priority's head start (timestamp ticks): the queue's order.</summary>
        public long Key { get; } = key;

        /// <summary>Arrival order: breaks ties of <see cref="Key"/>, and tells the youngest.</summary>
        public long Sequence { get; } = sequence;

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class WaiterOrder : IComparer<Waiter>
    {
        public static readonly WaiterOrder Instance = new();

        public int Compare(Waiter? x, Waiter? y)
        {
            var byKey = x!.Key.CompareTo(y!.Key);
            return byKey != 0 ? byKey : x.Sequence.CompareTo(y.Sequence);
        }
    }
}
