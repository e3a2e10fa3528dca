namespace Dynamo.KvCache;

/// <summary>
/// What a worker needs from an engine's KV cache to serve routers: replay of a missed range of events and a
/// full dump for a router that starts from nothing. <see cref="BlockPool"/> implements it, and so do the engines
/// that own one.
/// </summary>
public interface IKvEventSource
{
    /// <summary>Newest event id issued so far (0 before the first event).</summary>
    long LastEventId { get; }

    /// <summary>Events <paramref name="fromEventId"/>..<paramref name="toEventId"/> inclusive, or "gone".</summary>
    ReplayResult GetEvents(long fromEventId, long toEventId);

    /// <summary>Stored events describing every cached block, parents first.</summary>
    KvDump Dump();
}
