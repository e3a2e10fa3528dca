using System.Collections.Concurrent;

namespace Dynamo.Runtime.Metadata;

/// <summary>The embedded cluster's metadata store: a dictionary. Values are copied in and out, as over the wire.</summary>
public sealed class InProcessMetadataStore : IMetadataStore
{
    private readonly ConcurrentDictionary<string, byte[]> _values = new(StringComparer.Ordinal);

    public ValueTask PutAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        MetadataKeys.Validate(key);
        cancellationToken.ThrowIfCancellationRequested();
        _values[key] = value.ToArray();
        return ValueTask.CompletedTask;
    }

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        MetadataKeys.Validate(key);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(_values.TryGetValue(key, out var value) ? (byte[]?)value.ToArray() : null);
    }

    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        MetadataKeys.Validate(key);
        cancellationToken.ThrowIfCancellationRequested();
        _values.TryRemove(key, out _);
        return ValueTask.CompletedTask;
    }
}
