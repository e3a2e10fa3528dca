using Dynamo.Contracts.Discovery;
using Dynamo.KvCache;

namespace Dynamo.Router.Indexing;

/// <summary>
/// The control calls a router makes to a worker to repair its view of the worker's KV cache: replay a missed range of
/// events, or dump everything. <see cref="HttpKvEventControl"/> calls the worker contract's <c>GET /v1/kv/events</c>
/// and <c>GET /v1/kv/dump</c>; <see cref="KvEventSourceControl"/> calls engines in the same process.
/// </summary>
public interface IKvEventControl
{
    /// <summary>Events <paramref name="fromEventId"/>..<paramref name="toEventId"/> of <paramref name="worker"/>, or "gone" (<see cref="ReplayResult.IsAvailable"/> false).</summary>
    ValueTask<ReplayResult> GetEventsAsync(WorkerInstance worker, long fromEventId, long toEventId, CancellationToken cancellationToken = default);

    /// <summary>Every block <paramref name="worker"/> has cached, as of the dump's last event id.</summary>
    ValueTask<KvDump> DumpAsync(WorkerInstance worker, CancellationToken cancellationToken = default);
}
