namespace Dynamo.Router.Indexing;

/// <summary>Counters of a <see cref="KvIndexer"/> since it started.</summary>
/// <param name="EventsApplied">Events applied to the index from the stream, replays and buffers (dumps not counted).</param>
/// <param name="Duplicates">Events dropped because their id was already applied.</param>
/// <param name="Gaps">Missing ranges detected.</param>
/// <param name="Replays">Replay requests sent.</param>
/// <param name="ReplaysGone">Replays the worker could no longer serve (a dump followed).</param>
/// <param name="Dumps">Dump requests sent.</param>
/// <param name="Failures">Control calls that failed.</param>
/// <param name="Ignored">Events from workers not registered (their dump covers them).</param>
public readonly record struct KvIndexerStats(
    long EventsApplied,
    long Duplicates,
    long Gaps,
    long Replays,
    long ReplaysGone,
    long Dumps,
    long Failures,
    long Ignored);
