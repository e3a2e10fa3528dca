using System.Text.Json;

namespace Dynamo.Runtime.Events;

/// <summary>
/// How event payloads are written on planes that serialize (NATS): web defaults (camelCase), plus converters that
/// types with a wire form of their own register here once at start-up, before the first publish.
/// </summary>
public static class EventJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web);
}
