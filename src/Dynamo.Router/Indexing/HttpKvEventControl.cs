using System.Globalization;
using System.Net;
using System.Text.Json;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.KvEvents;
using Dynamo.KvCache;
using Dynamo.Runtime.Events;

namespace Dynamo.Router.Indexing;

/// <summary>
/// Control calls over the worker contract: <c>GET {address}v1/kv/events?from=&amp;to=</c> and <c>GET {address}v1/kv/dump</c>
/// (JSON as <see cref="KvEventJson"/> describes). HTTP rather than gRPC: every worker already serves HTTP, any engine
/// that speaks the contract can add two GETs, and they are easy to call by hand.
/// </summary>
public sealed class HttpKvEventControl(HttpClient http) : IKvEventControl
{
    public async ValueTask<ReplayResult> GetEventsAsync(WorkerInstance worker, long fromEventId, long toEventId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var uri = new Uri(worker.Address, string.Create(CultureInfo.InvariantCulture, $"v1/kv/events?from={fromEventId}&to={toEventId}"));
        var body = await GetAsync(uri, cancellationToken).ConfigureAwait(false);
        return ParseReplay(body);
    }

    public async ValueTask<KvDump> DumpAsync(WorkerInstance worker, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var body = await GetAsync(new Uri(worker.Address, "v1/kv/dump"), cancellationToken).ConfigureAwait(false);
        return ParseDump(body);
    }

    /// <summary>Reads <c>{"available":bool,"oldest_event_id":n,"last_event_id":n,"events":[...]}</c>.</summary>
    public static ReplayResult ParseReplay(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        Expect(reader.TokenType == JsonTokenType.StartObject, "a replay answer must be a JSON object");
        var available = false;
        long oldest = 0;
        long last = 0;
        List<KvEvent>? events = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            if (reader.ValueTextEquals("available"u8))
            {
                reader.Read();
                available = reader.GetBoolean();
            }
            else if (reader.ValueTextEquals("oldest_event_id"u8))
            {
                reader.Read();
                oldest = reader.GetInt64();
            }
            else if (reader.ValueTextEquals("last_event_id"u8))
            {
                reader.Read();
                last = reader.GetInt64();
            }
            else if (reader.ValueTextEquals("events"u8))
            {
                reader.Read();
                events = KvEventJson.ReadArray(ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return new ReplayResult(available, (IReadOnlyList<KvEvent>?)events ?? [], oldest, last);
    }

    /// <summary>Reads <c>{"last_event_id":n,"events":[...]}</c>.</summary>
    public static KvDump ParseDump(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        Expect(reader.TokenType == JsonTokenType.StartObject, "a dump must be a JSON object");
        long last = -1;
        List<KvEvent>? events = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            if (reader.ValueTextEquals("last_event_id"u8))
            {
                reader.Read();
                last = reader.GetInt64();
            }
            else if (reader.ValueTextEquals("events"u8))
            {
                reader.Read();
                events = KvEventJson.ReadArray(ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        Expect(last >= 0, "a dump needs last_event_id");
        return new KvDump(last, (IReadOnlyList<KvEvent>?)events ?? []);
    }

    private async Task<byte[]> GetAsync(Uri uri, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(uri, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new HttpRequestException($"GET {uri} answered {(int)response.StatusCode}.", null, response.StatusCode);
        }

        return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void Expect(bool condition, string message)
    {
        if (!condition)
        {
            throw new JsonException(message);
        }
    }
}
