namespace Dynamo.Transfer;

/// <summary>
/// A posted transfer (NIXL's transfer handle). Poll <see cref="Status"/> or await <see cref="Completion"/>, which
/// always ends with a <see cref="TransferResult"/> and never faults: a broken peer, a bad descriptor or a timeout is a
/// <see cref="TransferStatus.Failed"/> result. Once the result is set, no backend touches the local memory any more.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The abort source has no timer or links; it stays usable for Cancel() after the transfer ends.")]
public sealed class TransferRequest
{
    private readonly TaskCompletionSource<TransferResult> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _abort = new();
    private int _abortReason;

    internal TransferRequest(long id, TransferOperation operation, string remoteAgent, long bytes)
    {
        Id = id;
        Operation = operation;
        RemoteAgent = remoteAgent;
        Bytes = bytes;
    }

    public long Id { get; }

    public TransferOperation Operation { get; }

    public string RemoteAgent { get; }

    /// <summary>Bytes to move (the local list's total).</summary>
    public long Bytes { get; }

    /// <summary>Local descriptors after merging contiguous neighbours.</summary>
    public int LocalDescriptorCount { get; internal set; }

    /// <summary>Remote descriptors after merging contiguous neighbours.</summary>
    public int RemoteDescriptorCount { get; internal set; }

    public TransferBackendKind? Backend { get; internal set; }

    public TransferStatus Status => _done.Task.IsCompleted ? _done.Task.Result.Status : TransferStatus.InProgress;

    /// <summary>The result once finished, else null.</summary>
    public TransferResult? Result => _done.Task.IsCompleted ? _done.Task.Result : null;

    public Task<TransferResult> Completion => _done.Task;

    /// <summary>Stops the transfer; it ends <see cref="TransferStatus.Cancelled"/> unless it already ended.</summary>
    public void Cancel() => Abort(TransferErrorKind.Cancelled);

    internal CancellationToken AbortToken => _abort.Token;

    /// <summary>Why the transfer was aborted (cancel, timeout, agent stopping), or None.</summary>
    internal TransferErrorKind AbortReason => (TransferErrorKind)Volatile.Read(ref _abortReason);

    internal void Abort(TransferErrorKind reason)
    {
        if (Interlocked.CompareExchange(ref _abortReason, (int)reason, 0) == 0)
        {
            _abort.Cancel();
        }
    }

    internal bool TryComplete(TransferResult result) => _done.TrySetResult(result);

    public override string ToString() => $"transfer {Id} {Operation} {Bytes} B with {RemoteAgent}: {Status}";
}
