using System.Text.Json.Nodes;
using Dynamo.DevCluster.Watch;

namespace Dynamo.DevCluster.Tests.Unit;

public sealed class WatchHubTests
{
    private static WatchEvent Event(long rv, string key = "configmaps") => new(rv, "ADDED", key, "default", new JsonObject(), null);

    [Fact]
    public void Subscribe_ReplaysRetainedChangesOfItsResourceAfterTheVersion()
    {
        var hub = new WatchHub(historyCapacity: 10, subscriberBuffer: 10);
        hub.Publish(Event(1));
        hub.Publish(Event(2, "secrets"));
        hub.Publish(Event(3));

        var sub = hub.Subscribe("configmaps", 1)!;
        hub.Publish(Event(4));

        var seen = new List<long>();
        while (sub.Reader.TryRead(out var e)) seen.Add(e.ResourceVersion);
        Assert.Equal([3L, 4L], seen);
    }

    [Fact]
    public void Subscribe_FromBeforeTheWindow_IsRefused()
    {
        var hub = new WatchHub(historyCapacity: 2, subscriberBuffer: 10);
        for (var rv = 1; rv <= 5; rv++) hub.Publish(Event(rv));

        Assert.Equal(3, hub.CompactedResourceVersion);
        Assert.Null(hub.Subscribe("configmaps", 2));
        Assert.NotNull(hub.Subscribe("configmaps", 3));
    }

    [Fact]
    public async Task ASubscriberThatStopsReading_IsClosedWhenItsBufferFills_OthersGoOn()
    {
        var hub = new WatchHub(historyCapacity: 100, subscriberBuffer: 2);
        var slow = hub.Subscribe("configmaps", 0)!;
        var fast = hub.Subscribe("configmaps", 0)!;

        for (var rv = 1; rv <= 3; rv++)
        {
            hub.Publish(Event(rv));
            while (fast.Reader.TryRead(out _))
            {
            }
        }

        await Assert.ThrowsAsync<WatchOverflowException>(async () =>
        {
            await foreach (var _ in slow.Reader.ReadAllAsync())
            {
            }
        });
        Assert.Equal(1, hub.SubscriberCount);
    }
}
