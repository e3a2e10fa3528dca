namespace Dynamo.Transfer.Backends;

/// <summary>What a backend reports for one transfer or notification: success, or an error kind with a message.</summary>
internal readonly record struct TransferOutcome(TransferErrorKind Error, string? Message)
{
    public static TransferOutcome Success => default;

    public bool IsSuccess => Error == TransferErrorKind.None;

    public static TransferOutcome Fail(TransferErrorKind error, string message) => new(error, message);
}
