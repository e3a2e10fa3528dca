using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.Errors;
using Dynamo.Gateway.Observability;

namespace Dynamo.Gateway.Limits;

/// <summary>
/// Bounds the sequences the gateway forwards at once. A request holds one slot per sequence it asks for (prompts × n),
/// so one wide request cannot fill every batch slot of the workers while it counts as one. Up to
/// <c>MaxConcurrentRequests</c> slots are held; up to <c>MaxQueuedRequests</c> requests more wait (at most
/// <c>QueueTimeout</c>), first come first served so a wide request is not starved by narrow ones behind it; the rest
/// are told 429 at once, so an overload sheds load at the door instead of growing queues inside workers. A request
/// wider than every slot (possible only when <c>MaxSequencesPerRequest</c> exceeds <c>MaxConcurrentRequests</c>) waits
/// for all of them and runs alone.
/// </summary>
internal sealed class AdmissionController : IDisposable
{
    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly int _capacity;
    private readonly int _maxQueued;
    private readonly TimeSpan _queueTimeout;
    private readonly TimeProvider _time;
    private readonly GatewayMetrics _metrics;
    private int _inUse;

    public AdmissionController(GatewayOptions options, TimeProvider time, GatewayMetrics metrics)
    {
        _capacity = options.MaxConcurrentRequests;
        _maxQueued = options.MaxQueuedRequests;
        _queueTimeout = options.QueueTimeout;
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
    /// Waits for <paramref name="sequences"/> slots; throws a 429 <see cref="OpenAiException"/> when the queue is full
    /// or the wait times out.
    /// </summary>
    public async ValueTask<Slot> EnterAsync(int sequences, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sequences, 1);
        var weight = Math.Min(sequences, _capacity);
        Waiter waiter;
        lock (_lock)
        {
            if (_waiters.Count == 0 && _inUse + weight <= _capacity)
            {
                _inUse += weight;
                return new Slot(this, weight);
            }

            if (_waiters.Count >= _maxQueued)
            {
                throw ErrorWriter.TooManyRequests("The server is at its configured concurrency and queue limits; retry later.");
            }

            waiter = new Waiter(weight);
            waiter.Node = _waiters.AddLast(waiter);
            QueueChanged();
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
                if (waiter.Node!.List is not null)
                {
                    // Still queued: leave, and let those behind move up if they now fit.
                    _waiters.Remove(waiter.Node);
                    QueueChanged();
                    GrantWaiting();
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
        while (_waiters.First is { } first && _inUse + first.Value.Weight <= _capacity)
        {
            _waiters.RemoveFirst();
            QueueChanged();
            _inUse += first.Value.Weight;
            first.Value.Granted.TrySetResult();
        }
    }

    // Under _lock. The gauge follows the queue itself: set around the wait, it would always read what it was before.
    private void QueueChanged() => _metrics.Queued.Set(_waiters.Count);

    internal readonly struct Slot(AdmissionController owner, int weight) : IDisposable
    {
        public void Dispose() => owner.Exit(weight);
    }

    private sealed class Waiter(int weight)
    {
        public int Weight { get; } = weight;

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LinkedListNode<Waiter>? Node { get; set; }
    }
}
