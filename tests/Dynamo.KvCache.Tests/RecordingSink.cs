using Dynamo.Contracts.KvEvents;

namespace Dynamo.KvCache.Tests;

internal sealed class RecordingSink : IKvEventSink
{
    private readonly List<KvEvent> _events = [];

    public IReadOnlyList<KvEvent> Events => _events;

    public void Publish(KvEvent kvEvent) => _events.Add(kvEvent);

    public void Clear() => _events.Clear();
}
