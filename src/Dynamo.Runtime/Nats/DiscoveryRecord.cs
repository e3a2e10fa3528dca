using System.Text.Json.Serialization;
using Dynamo.Contracts.Discovery;

namespace Dynamo.Runtime.Nats;

/// <summary>The value of a registration in the discovery bucket: the instance and the lease its owner keeps.</summary>
internal sealed record DiscoveryRecord(
    [property: JsonPropertyName("instance")] WorkerInstance Instance,
    [property: JsonPropertyName("lease_ttl_ms")] long LeaseTtlMs);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UseStringEnumConverter = true)]
[JsonSerializable(typeof(DiscoveryRecord))]
internal sealed partial class DiscoveryJsonContext : JsonSerializerContext;
