namespace Dynamo.Worker;

/// <summary>
/// Counts in-flight generation requests and turns new ones away once draining starts. A request enters before
/// it checks the flag and the drain sets the flag before it reads the count, so none slips past a drain unseen.
/// </summary>
internal sealed class DrainGate : IDisposable
{
    private readonly CancellationTokenSource _cancelInflight = new();
    private int _inflight;
    private int _draining;
    private TaskCompletionSource? _idle;

    public bool IsDraining => Volatile.Read(ref _draining) != 0;

    public int Inflight => Volatile.Read(ref _inflight);

    /// <summary>Cancelled when the drain timeout runs out: in-flight generation stops.</summary>
    public CancellationToken InflightCancelled => _cancelInflight.Token;

    public bool TryEnter()
    {
        Interlocked.Increment(ref _inflight);
        if (IsDraining)
        {
            Exit();
            return false;
        }

        return true;
    }

    public void Exit()
    {
        if (Interlocked.Decrement(ref _inflight) == 0 && IsDraining)
        {
            Volatile.Read(ref _idle)?.TrySetResult();
        }
    }

    /// <summary>Refuses new requests from now on; the task completes when the last in-flight one exits.</summary>
    public Task BeginDrain()
    {
        var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _idle, idle, null) is { } existing)
        {
            return existing.Task;
        }

        Interlocked.Exchange(ref _draining, 1);
        if (Inflight == 0)
        {
            idle.TrySetResult();
        }

        return idle.Task;
    }

    public void CancelInflight() => _cancelInflight.Cancel();

    public void Dispose() => _cancelInflight.Dispose();
}
