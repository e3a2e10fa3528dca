using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.Errors;

namespace Dynamo.Gateway.Limits;

/// <summary>
/// Bounds the requests the gateway forwards at once. Up to <c>MaxConcurrentRequests</c> run; up to
/// <c>MaxQueuedRequests</c> more wait (at most <c>QueueTimeout</c>); the rest are told 429 at once, so an
/// overload sheds load at the door instead of growing queues inside workers.
/// </summary>
internal sealed class AdmissionController : IDisposable
{
    private readonly SemaphoreSlim _slots;
    private readonly int _maxQueued;
    private readonly TimeSpan _queueTimeout;
    private int _queued;

    public AdmissionController(GatewayOptions options)
    {
        _slots = new SemaphoreSlim(options.MaxConcurrentRequests, options.MaxConcurrentRequests);
        _maxQueued = options.MaxQueuedRequests;
        _queueTimeout = options.QueueTimeout;
    }

    public int Queued => Volatile.Read(ref _queued);

    /// <summary>Waits for a slot; throws a 429 <see cref="OpenAiException"/> when the queue is full or the wait times out.</summary>
    public async ValueTask<Slot> EnterAsync(CancellationToken cancellationToken)
    {
        if (_slots.Wait(0, CancellationToken.None))
        {
            return new Slot(this);
        }

        if (Interlocked.Increment(ref _queued) > _maxQueued)
        {
            Interlocked.Decrement(ref _queued);
            throw ErrorWriter.TooManyRequests("The server is at its configured concurrency and queue limits; retry later.");
        }

        try
        {
            if (!await _slots.WaitAsync(_queueTimeout, cancellationToken).ConfigureAwait(false))
            {
                throw ErrorWriter.TooManyRequests($"No capacity became free within the queue timeout ({_queueTimeout.TotalSeconds:0.#} s); retry later.");
            }
        }
        finally
        {
            Interlocked.Decrement(ref _queued);
        }

        return new Slot(this);
    }

    public void Dispose() => _slots.Dispose();

    internal readonly struct Slot(AdmissionController owner) : IDisposable
    {
        public void Dispose() => owner._slots.Release();
    }
}
