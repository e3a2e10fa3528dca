namespace Dynamo.Transfer;

/// <summary>How a transfer ended. <see cref="TransferRequest.Completion"/> always ends with one of these; it never faults.</summary>
public sealed record TransferResult
{
    public required TransferStatus Status { get; init; }

    public TransferErrorKind Error { get; init; }

    /// <summary>What went wrong, for logs: names the descriptor, region or peer at fault.</summary>
    public string? Message { get; init; }

    /// <summary>Bytes the transfer was asked to move.</summary>
    public long Bytes { get; init; }

    /// <summary>From posting to the end.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>The backend that ran it; null when it failed before one was picked.</summary>
    public TransferBackendKind? Backend { get; init; }

    public bool IsSuccess => Status == TransferStatus.Completed;

    public override string ToString() => IsSuccess
        ? $"{Status} {Bytes} B in {Elapsed.TotalMilliseconds:F3} ms over {Backend}"
        : $"{Status} ({Error}): {Message}";
}
