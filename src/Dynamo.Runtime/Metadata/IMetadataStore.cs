namespace Dynamo.Runtime.Metadata;

/// <summary>
/// Small shared values keyed by name, for parts that must find each other's descriptors: the KV transfer library
/// publishes each worker's transfer metadata (agent descriptor, block layout) under its instance id, and the peer
/// reads it before a transfer. In-process by default; a JetStream KV bucket on NATS. Keys follow
/// <see cref="MetadataKeys.Validate"/>.
/// </summary>
public interface IMetadataStore
{
    /// <summary>Creates or replaces the value of <paramref name="key"/>.</summary>
    ValueTask PutAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default);

    /// <summary>The value of <paramref name="key"/>, or null when there is none.</summary>
    ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Removes <paramref name="key"/>; nothing happens when it is absent.</summary>
    ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default);
}
