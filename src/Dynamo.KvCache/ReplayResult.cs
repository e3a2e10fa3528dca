using Dynamo.Contracts.KvEvents;

namespace Dynamo.KvCache;

/// <summary>
/// Answer to a replay request. When <see cref="IsAvailable"/> is false the start of the range has left the
/// replay buffer and the caller needs a full dump instead.
/// </summary>
/// <param name="IsAvailable">Whether every requested event that exists is in <see cref="Events"/>.</param>
/// <param name="Events">The events, in id order (empty when not available or when the range is in the future).</param>
/// <param name="OldestEventId">Oldest event id still in the buffer (<c>LastEventId + 1</c> when it is empty).</param>
/// <param name="LastEventId">Newest event id issued so far (0 before the first event).</param>
public sealed record ReplayResult(bool IsAvailable, IReadOnlyList<KvEvent> Events, long OldestEventId, long LastEventId);
