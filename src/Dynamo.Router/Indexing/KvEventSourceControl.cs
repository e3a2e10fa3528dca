using Dynamo.Contracts.Discovery;
using Dynamo.KvCache;

namespace Dynamo.Router.Indexing;

/// <summary>Control calls answered by engines in this process (simulations, benchmarks, tests): no HTTP in between.</summary>
/// <param name="sources">The event source of a worker id, or null when there is none.</param>
public sealed class KvEventSourceControl(Func<string, IKvEventSource?> sources) : IKvEventControl
{
    public ValueTask<ReplayResult> GetEventsAsync(WorkerInstance worker, long fromEventId, long toEventId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(worker);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Source(worker).GetEvents(fromEventId, toEventId));
    }

    public ValueTask<KvDump> DumpAsync(WorkerInstance worker, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(worker);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Source(worker).Dump());
    }

    private IKvEventSource Source(WorkerInstance worker) =>
        sources(worker.InstanceId) ?? throw new InvalidOperationException($"Worker '{worker.InstanceId}' has no KV event source.");
}
