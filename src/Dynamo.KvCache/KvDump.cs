using Dynamo.Contracts.KvEvents;

namespace Dynamo.KvCache;

/// <summary>
/// Every block a pool has cached, as <see cref="KvStored"/> events in prefix order (a parent always comes
/// before its children), as of event <see cref="LastEventId"/>. A new router applies these, then follows the
/// live stream from <c>LastEventId + 1</c>. The events carry <see cref="LastEventId"/> as their id: they are a
/// snapshot, not new events.
/// </summary>
public sealed record KvDump(long LastEventId, IReadOnlyList<KvEvent> Events);
