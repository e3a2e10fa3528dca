namespace Dynamo.Transfer.Backends.Ucx;

internal enum UcxStage
{
    Data,
    Flush,
    Notify,
    Done,
}

/// <summary>A transfer (or a lone notification) while the UCX progress thread runs it.</summary>
internal sealed class UcxTransfer
{
    public TaskCompletionSource<TransferOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TransferJob? Job { get; init; }

    public required Backends.RemotePeer RemotePeer { get; init; }

    public byte[]? Notification { get; init; }

    public UcxPeer? Peer { get; set; }

    public UcxStage Stage { get; set; }

    public int Pending { get; set; }

    public TransferOutcome? Error { get; set; }

    public bool Aborted { get; set; }

    public CancellationTokenRegistration Cancellation { get; set; }

    /// <summary>The backend's own leases on the local regions, held until every request has finished.</summary>
    public Memory.LeaseSet Leases { get; } = new();
}

internal enum UcxOpKind
{
    Transfer,
    Close,
}

/// <summary>A UCX request being polled: part of a transfer, or an endpoint's close.</summary>
internal readonly record struct UcxOp(nint Request, UcxOpKind Kind, UcxTransfer? Transfer, UcxPeer Peer, nint NativeBuffer);
