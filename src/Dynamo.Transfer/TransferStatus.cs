namespace Dynamo.Transfer;

public enum TransferStatus
{
    /// <summary>Posted; bytes may be moving.</summary>
    InProgress,

    /// <summary>Every byte arrived (and the notification, when one was asked for, was handed over).</summary>
    Completed,

    /// <summary>Nothing more will move; <see cref="TransferResult.Error"/> says why. Local memory is no longer touched.</summary>
    Failed,

    /// <summary>Cancelled by the caller; local memory is no longer touched.</summary>
    Cancelled,
}
