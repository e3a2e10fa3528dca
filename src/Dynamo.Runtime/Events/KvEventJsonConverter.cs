using System.Text.Json;
using System.Text.Json.Serialization;
using Dynamo.Contracts.KvEvents;

namespace Dynamo.Runtime.Events;

/// <summary>
/// Puts <see cref="KvEvent"/> on serializing planes in its one wire form (<see cref="KvEventJson"/>), the same
/// that replay and dump answers use; the default reflection form cannot carry the polymorphic event data.
/// </summary>
public sealed class KvEventJsonConverter : JsonConverter<KvEvent>
{
    public override KvEvent Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => KvEventJson.Read(ref reader);

    public override void Write(Utf8JsonWriter writer, KvEvent value, JsonSerializerOptions options) => KvEventJson.Write(writer, value);
}
