using System.Text;
using Dynamo.Contracts.KvEvents;
using Dynamo.Router.Indexing;
using Dynamo.Runtime.Events;

namespace Dynamo.Router.Tests.Indexing;

public sealed class KvEventWireTests
{
    [Fact]
    public void Events_RoundTrip_WithFullRangeHashes()
    {
        KvEvent[] events =
        [
            new("w0", 1, StorageTier.Device, new KvStored(null, [new StoredBlock(ulong.MaxValue, 1), new StoredBlock(2, 0x8000_0000_0000_0000)])),
            new("w0", 2, StorageTier.Host, new KvStored(ulong.MaxValue - 1, [new StoredBlock(3, 4)])),
            new("w0", 3, StorageTier.Disk, new KvRemoved([ulong.MaxValue, 7])),
            new("w0", 4, StorageTier.Device, new KvCleared()),
        ];

        foreach (var kvEvent in events)
        {
            var back = KvEventJson.Deserialize(KvEventJson.Serialize(kvEvent));
            Assert.Equal(kvEvent.WorkerId, back.WorkerId);
            Assert.Equal(kvEvent.EventId, back.EventId);
            Assert.Equal(kvEvent.Tier, back.Tier);
            switch (kvEvent.Data)
            {
                case KvStored stored:
                    var storedBack = Assert.IsType<KvStored>(back.Data);
                    Assert.Equal(stored.ParentHash, storedBack.ParentHash);
                    Assert.Equal(stored.Blocks, storedBack.Blocks);
                    break;
                case KvRemoved removed:
                    Assert.Equal(removed.SeqHashes, Assert.IsType<KvRemoved>(back.Data).SeqHashes);
                    break;
                default:
                    Assert.IsType<KvCleared>(back.Data);
                    break;
            }
        }
    }

    [Fact]
    public void WireForm_IsSnakeCaseWithATypeField()
    {
        var json = Encoding.UTF8.GetString(KvEventJson.Serialize(new KvEvent("w1", 9, StorageTier.Device, new KvStored(5, [new StoredBlock(6, 7)]))));

        Assert.Equal("""{"worker_id":"w1","event_id":9,"tier":"device","type":"stored","parent_hash":5,"blocks":[{"seq_hash":6,"tokens_hash":7}]}""", json);
    }

    [Fact]
    public void ReplayAndDumpAnswers_Parse()
    {
        var replay = HttpKvEventControl.ParseReplay("""{"available":false,"oldest_event_id":40,"last_event_id":90,"events":[]}"""u8);
        Assert.False(replay.IsAvailable);
        Assert.Equal(40, replay.OldestEventId);
        Assert.Equal(90, replay.LastEventId);

        var dump = HttpKvEventControl.ParseDump("""{"last_event_id":3,"extra":{"x":[1]},"events":[{"worker_id":"a","event_id":3,"tier":"device","type":"stored","parent_hash":null,"blocks":[{"seq_hash":1,"tokens_hash":2}]}]}"""u8);
        Assert.Equal(3, dump.LastEventId);
        var stored = Assert.IsType<KvStored>(Assert.Single(dump.Events).Data);
        Assert.Null(stored.ParentHash);
    }

    [Fact]
    public void UnknownType_IsAnError()
    {
        Assert.Throws<System.Text.Json.JsonException>(() => KvEventJson.Deserialize("""{"worker_id":"a","event_id":1,"type":"moved"}"""u8));
    }
}
