namespace Dynamo.Router.Indexing;

/// <summary>How a <see cref="KvIndexer"/> repairs gaps. Defaults suit workers on one network.</summary>
public sealed class KvIndexerOptions
{
    /// <summary>Events of one worker buffered while a replay or dump is awaited; beyond it the indexer starts over from a dump. Default 100,000.</summary>
    public int MaxPendingEvents { get; set; } = 100_000;

    /// <summary>Tries of a dump before the worker is followed without repair. Default 5.</summary>
    public int DumpAttempts { get; set; } = 5;

    /// <summary>Wait before the second try; doubles each time. Default 500 ms.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);
}
