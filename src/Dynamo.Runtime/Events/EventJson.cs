using System.Text.Json;

namespace Dynamo.Runtime.Events;

/// <summary>
/// How event payloads are written on planes that serialize (NATS): web defaults (camelCase), and the wire forms of
/// types that have their own (<see cref="KvEventJsonConverter"/>).
/// </summary>
public static class EventJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web) { Converters = { new KvEventJsonConverter() } };
}
