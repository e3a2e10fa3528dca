using System.Buffers.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Dynamo.Contracts.Discovery;
using Dynamo.Runtime.Security;

namespace Dynamo.Runtime.Nats;

/// <summary>
/// The value of a registration in the discovery bucket: the instance, the lease its owner keeps, and the owner's
/// signature. The signature is the cluster secret's MAC (<see cref="ClusterSecret.Sign"/>, purpose
/// <c>discovery</c>) over the bucket key and the canonical record: the record serialized without its signature, by
/// this same serializer. Observers verify the record they will use, so extra or reordered fields in a forged value
/// change nothing, and a genuine value copied to another key does not verify.
/// </summary>
internal sealed record DiscoveryRecord(
    [property: JsonPropertyName("instance")] WorkerInstance Instance,
    [property: JsonPropertyName("lease_ttl_ms")] long LeaseTtlMs,
    [property: JsonPropertyName("signature"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Signature = null)
{
    private const string Purpose = "discovery";

    /// <summary>The signed bucket value for <paramref name="key"/>.</summary>
    public byte[] Encode(string key, ClusterSecret secret)
    {
        var canonical = Canonical();
        return JsonSerializer.SerializeToUtf8Bytes(
            this with { Signature = Base64Url.EncodeToString(secret.Sign(Purpose, key, canonical)) }, DiscoveryJsonContext.Default.DiscoveryRecord);
    }

    /// <summary>True when <see cref="Signature"/> is the cluster's signature of this record under <paramref name="key"/>.</summary>
    public bool Verify(string key, ClusterSecret secret) =>
        Signature is { } signature
        && Base64Url.IsValid(signature)
        && secret.Verify(Purpose, key, Canonical(), Base64Url.DecodeFromChars(signature));

    private byte[] Canonical() => JsonSerializer.SerializeToUtf8Bytes(this with { Signature = null }, DiscoveryJsonContext.Default.DiscoveryRecord);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UseStringEnumConverter = true)]
[JsonSerializable(typeof(DiscoveryRecord))]
internal sealed partial class DiscoveryJsonContext : JsonSerializerContext;
