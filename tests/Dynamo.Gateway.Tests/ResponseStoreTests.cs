using Dynamo.Gateway.Responses;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Gateway.Tests;

/// <summary>The Responses API's store keeps within its bounds: entries, bytes and age, the oldest dropped first.</summary>
public sealed class ResponseStoreTests
{
    private static byte[] Bytes(int n) => new byte[n];

    [Fact]
    public void Entries_OldestDroppedFirst()
    {
        var store = new ResponseStore(new ResponsesOptions { StoreMaxEntries = 2 }, new FakeTimeProvider());

        store.Add("a", Bytes(10), Bytes(10));
        store.Add("b", Bytes(10), Bytes(10));
        store.Add("c", Bytes(10), Bytes(10));

        Assert.Null(store.Response("a"));
        Assert.NotNull(store.Conversation("b"));
        Assert.NotNull(store.Response("c"));
        Assert.Equal((2, 1L), (store.Count, store.Evicted));
    }

    [Fact]
    public void Bytes_OldestDroppedFirst_AndAnOversizedResponseIsNotKept()
    {
        var store = new ResponseStore(new ResponsesOptions { StoreMaxBytes = 2048 }, new FakeTimeProvider());

        Assert.True(store.Add("a", Bytes(500), Bytes(400)));
        Assert.True(store.Add("b", Bytes(500), Bytes(400)));
        Assert.True(store.Add("c", Bytes(500), Bytes(400)));
        Assert.False(store.Add("huge", Bytes(2000), Bytes(100)));

        Assert.Null(store.Response("a"));
        Assert.NotNull(store.Response("b"));
        Assert.NotNull(store.Response("c"));
        Assert.Null(store.Response("huge"));
    }

    [Fact]
    public void Age_ExpiredResponsesAreGone()
    {
        var time = new FakeTimeProvider();
        var store = new ResponseStore(new ResponsesOptions { StoreTtl = TimeSpan.FromMinutes(10) }, time);
        store.Add("a", Bytes(10), Bytes(10));
        time.Advance(TimeSpan.FromMinutes(5));
        store.Add("b", Bytes(10), Bytes(10));

        time.Advance(TimeSpan.FromMinutes(6));

        Assert.Null(store.Response("a"));
        Assert.NotNull(store.Response("b"));
        Assert.Equal((1, 0L), (store.Count, store.Evicted));
    }

    [Fact]
    public void ZeroEntries_KeepsNothing_AndDeleteForgets()
    {
        Assert.False(new ResponseStore(new ResponsesOptions { StoreMaxEntries = 0 }, new FakeTimeProvider()).Add("a", Bytes(1), Bytes(1)));

        var store = new ResponseStore(new ResponsesOptions(), new FakeTimeProvider());
        store.Add("a", Bytes(1), Bytes(1));
        Assert.True(store.Delete("a"));
        Assert.False(store.Delete("a"));
        Assert.Null(store.Response("a"));
    }
}
