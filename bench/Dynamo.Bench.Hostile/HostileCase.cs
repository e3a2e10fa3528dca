namespace Dynamo.Bench.Hostile;

internal enum AbortMode
{
    None,

    /// <summary>The client sends <see cref="HostileCase.AbortAt"/> bytes and closes (reset) without reading.</summary>
    BeforeEnd,

    /// <summary>The client sends everything, reads the first bytes of the answer and closes (reset).</summary>
    AfterFirstBytes,
}

/// <summary>Who sends a request: the server sees each as its own client address.</summary>
internal enum Sender
{
    /// <summary>Holds the right key; its payloads are hostile.</summary>
    KeyHolder,

    /// <summary>Guesses keys: every request fails authentication (and gets throttled).</summary>
    Guesser,
}

/// <summary>One hostile request and what the answer must look like.</summary>
/// <param name="Kind">Family of the attack, for the report.</param>
/// <param name="Request">The bytes on the wire, request line to body.</param>
/// <param name="ProtocolLevel">
/// Kestrel may refuse it before any application code runs (malformed request line or headers, limits on the
/// request line and headers, unsupported versions): an empty body is then Kestrel's, and is listed, not failed.
/// </param>
/// <param name="ExpectedStatuses">When not empty, the only statuses that pass (admin paths must be 404, ...).</param>
internal sealed record HostileCase(string Kind, byte[] Request, Sender Sender = Sender.KeyHolder, bool ProtocolLevel = false, int[]? ExpectedStatuses = null)
{
    public AbortMode Abort { get; init; }

    public int AbortAt { get; init; }

    /// <summary>Sent in this many writes, <see cref="PieceDelay"/> apart (a slow client).</summary>
    public int Pieces { get; init; } = 1;

    public TimeSpan PieceDelay { get; init; }

    public bool IsHead => Request.AsSpan().StartsWith("HEAD "u8);
}
