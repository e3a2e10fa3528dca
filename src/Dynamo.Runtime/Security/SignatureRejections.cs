using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Dynamo.Runtime.Security;

/// <summary>
/// Counts of what a process dropped because its cluster signature did not verify, by kind (<c>discovery</c>,
/// <c>event</c>, <c>transfer_metadata</c>) and reason (<c>unsigned</c>, <c>bad_signature</c>). One per NATS
/// connection; the frontend exports it as <c>dynamo_frontend_rejected_signed_records_total</c>.
/// </summary>
public sealed class SignatureRejections
{
    public const string Discovery = "discovery";
    public const string Event = "event";
    public const string TransferMetadata = "transfer_metadata";
    public const string Unsigned = "unsigned";
    public const string BadSignature = "bad_signature";

    private readonly ConcurrentDictionary<(string Kind, string Reason), StrongBox<long>> _counts = new();

    /// <summary>Raised after each rejection, with its kind and reason.</summary>
    public event Action<string, string>? Rejected;

    public void Add(string kind, string reason)
    {
        Interlocked.Increment(ref _counts.GetOrAdd((kind, reason), static _ => new StrongBox<long>()).Value);
        Rejected?.Invoke(kind, reason);
    }

    /// <summary>Rejections of <paramref name="kind"/>, every reason together.</summary>
    public long Count(string kind) => _counts.Where(c => c.Key.Kind == kind).Sum(c => Volatile.Read(ref c.Value.Value));

    public IReadOnlyList<(string Kind, string Reason, long Count)> Snapshot() =>
        [.. _counts.Select(c => (c.Key.Kind, c.Key.Reason, Volatile.Read(ref c.Value.Value)))];
}
