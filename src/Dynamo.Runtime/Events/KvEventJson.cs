using System.Text.Json;
using Dynamo.Contracts.KvEvents;

namespace Dynamo.Runtime.Events;

/// <summary>
/// The wire form of a <see cref="KvEvent"/>: one JSON object, snake_case, hashes as unsigned 64-bit numbers, the kind
/// in <c>"type"</c>. Workers write it (event plane, replay and dump answers) and routers read it; both go through
/// this class so the two sides cannot drift.
/// </summary>
/// <remarks>
/// <code>
/// {"worker_id":"w0","event_id":7,"tier":"device","type":"stored","parent_hash":42,"blocks":[{"seq_hash":1,"tokens_hash":2}]}
/// {"worker_id":"w0","event_id":8,"tier":"device","type":"removed","seq_hashes":[1,2]}
/// {"worker_id":"w0","event_id":9,"tier":"device","type":"cleared"}
/// </code>
/// A replay answer (<c>GET /v1/kv/events?from=&amp;to=</c>) is <c>{"available":bool,"oldest_event_id":n,"last_event_id":n,"events":[...]}</c>;
/// a dump (<c>GET /v1/kv/dump</c>) is <c>{"last_event_id":n,"events":[...]}</c>. Written by hand rather than with a
/// serializer context: a router rebuilding its index from dumps reads millions of these, and this reader allocates
/// only the event objects.
/// </remarks>
public static class KvEventJson
{
    public static void Write(Utf8JsonWriter writer, KvEvent kvEvent)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(kvEvent);
        writer.WriteStartObject();
        writer.WriteString("worker_id"u8, kvEvent.WorkerId);
        writer.WriteNumber("event_id"u8, kvEvent.EventId);
        writer.WriteString("tier"u8, TierName(kvEvent.Tier));
        switch (kvEvent.Data)
        {
            case KvStored stored:
                writer.WriteString("type"u8, "stored"u8);
                if (stored.ParentHash is { } parent)
                {
                    writer.WriteNumber("parent_hash"u8, parent);
                }
                else
                {
                    writer.WriteNull("parent_hash"u8);
                }

                writer.WriteStartArray("blocks"u8);
                foreach (var block in stored.Blocks)
                {
                    writer.WriteStartObject();
                    writer.WriteNumber("seq_hash"u8, block.SeqHash);
                    writer.WriteNumber("tokens_hash"u8, block.TokensHash);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
                break;
            case KvRemoved removed:
                writer.WriteString("type"u8, "removed"u8);
                writer.WriteStartArray("seq_hashes"u8);
                foreach (var hash in removed.SeqHashes)
                {
                    writer.WriteNumberValue(hash);
                }

                writer.WriteEndArray();
                break;
            case KvCleared:
                writer.WriteString("type"u8, "cleared"u8);
                break;
            default:
                throw new ArgumentException($"Unknown KV event data {kvEvent.Data.GetType().Name}.", nameof(kvEvent));
        }

        writer.WriteEndObject();
    }

    /// <summary>Writes a JSON array of events.</summary>
    public static void WriteArray(Utf8JsonWriter writer, IEnumerable<KvEvent> events)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(events);
        writer.WriteStartArray();
        foreach (var kvEvent in events)
        {
            Write(writer, kvEvent);
        }

        writer.WriteEndArray();
    }

    public static byte[] Serialize(KvEvent kvEvent)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, kvEvent);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static KvEvent Deserialize(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        return Read(ref reader);
    }

    /// <summary>Reads one event; the reader is on its <c>{</c> and is left on its <c>}</c>. Unknown properties are skipped.</summary>
    /// <exception cref="JsonException">Not an event.</exception>
    public static KvEvent Read(ref Utf8JsonReader reader)
    {
        Expect(ref reader, JsonTokenType.StartObject);
        string? workerId = null;
        long eventId = -1;
        var tier = StorageTier.Device;
        string? type = null;
        ulong? parent = null;
        List<StoredBlock>? blocks = null;
        List<ulong>? hashes = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            Expect(ref reader, JsonTokenType.PropertyName);
            if (reader.ValueTextEquals("worker_id"u8))
            {
                reader.Read();
                workerId = reader.GetString();
            }
            else if (reader.ValueTextEquals("event_id"u8))
            {
                reader.Read();
                eventId = reader.GetInt64();
            }
            else if (reader.ValueTextEquals("tier"u8))
            {
                reader.Read();
                tier = ParseTier(ref reader);
            }
            else if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                type = reader.GetString();
            }
            else if (reader.ValueTextEquals("parent_hash"u8))
            {
                reader.Read();
                parent = reader.TokenType == JsonTokenType.Null ? null : reader.GetUInt64();
            }
            else if (reader.ValueTextEquals("blocks"u8))
            {
                reader.Read();
                blocks = ReadBlocks(ref reader);
            }
            else if (reader.ValueTextEquals("seq_hashes"u8))
            {
                reader.Read();
                Expect(ref reader, JsonTokenType.StartArray);
                hashes = [];
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    hashes.Add(reader.GetUInt64());
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (workerId is null || eventId < 0)
        {
            throw new JsonException("A KV event needs worker_id and a non-negative event_id.");
        }

        KvEventData data = type switch
        {
            "stored" => new KvStored(parent, (IReadOnlyList<StoredBlock>?)blocks ?? []),
            "removed" => new KvRemoved((IReadOnlyList<ulong>?)hashes ?? []),
            "cleared" => new KvCleared(),
            _ => throw new JsonException($"Unknown KV event type '{type}' (expected stored, removed or cleared)."),
        };
        return new KvEvent(workerId, eventId, tier, data);
    }

    /// <summary>Reads a JSON array of events; the reader is on its <c>[</c> and is left on its <c>]</c>.</summary>
    public static List<KvEvent> ReadArray(ref Utf8JsonReader reader)
    {
        Expect(ref reader, JsonTokenType.StartArray);
        var events = new List<KvEvent>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            events.Add(Read(ref reader));
        }

        return events;
    }

    public static string TierName(StorageTier tier) => tier switch
    {
        StorageTier.Device => "device",
        StorageTier.Host => "host",
        StorageTier.Disk => "disk",
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, "Unknown storage tier."),
    };

    private static StorageTier ParseTier(ref Utf8JsonReader reader)
    {
        if (reader.ValueTextEquals("device"u8))
        {
            return StorageTier.Device;
        }

        if (reader.ValueTextEquals("host"u8))
        {
            return StorageTier.Host;
        }

        if (reader.ValueTextEquals("disk"u8))
        {
            return StorageTier.Disk;
        }

        throw new JsonException($"Unknown storage tier '{reader.GetString()}' (expected device, host or disk).");
    }

    private static List<StoredBlock> ReadBlocks(ref Utf8JsonReader reader)
    {
        Expect(ref reader, JsonTokenType.StartArray);
        var blocks = new List<StoredBlock>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            Expect(ref reader, JsonTokenType.StartObject);
            ulong seq = 0;
            ulong tokens = 0;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                if (reader.ValueTextEquals("seq_hash"u8))
                {
                    reader.Read();
                    seq = reader.GetUInt64();
                }
                else if (reader.ValueTextEquals("tokens_hash"u8))
                {
                    reader.Read();
                    tokens = reader.GetUInt64();
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            blocks.Add(new StoredBlock(seq, tokens));
        }

        return blocks;
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type)
    {
        if (reader.TokenType != type)
        {
            throw new JsonException($"Expected {type} in a KV event, found {reader.TokenType}.");
        }
    }
}
