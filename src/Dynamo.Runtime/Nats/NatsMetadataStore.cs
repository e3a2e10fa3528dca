using Dynamo.Runtime.Metadata;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace Dynamo.Runtime.Nats;

/// <summary>
/// <see cref="IMetadataStore"/> in the JetStream KV bucket <see cref="NatsOptions.TransferBucket"/>: where the KV
/// transfer library publishes each worker's transfer metadata for its peers. Values do not expire.
/// </summary>
public sealed class NatsMetadataStore : IMetadataStore
{
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    private readonly INatsKVContext _kv;
    private readonly NatsOptions _options;
    private INatsKVStore? _store;

    internal NatsMetadataStore(INatsKVContext kv, NatsOptions options)
    {
        _kv = kv;
        _options = options;
    }

    public async ValueTask PutAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        MetadataKeys.Validate(key);
        await WithStoreAsync(store => store.PutAsync(key, value.ToArray(), Raw, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        MetadataKeys.Validate(key);
        return await WithStoreAsync(
            async store =>
            {
                var result = await store.TryGetEntryAsync(key, serializer: Raw, cancellationToken: cancellationToken).ConfigureAwait(false);
                return result.Success && result.Value.Operation == NatsKVOperation.Put ? result.Value.Value ?? [] : null;
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        MetadataKeys.Validate(key);
        await WithStoreAsync(
            async store =>
            {
                await store.DeleteAsync(key, cancellationToken: cancellationToken).ConfigureAwait(false);
                return 0;
            },
            cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<T> WithStoreAsync<T>(Func<INatsKVStore, ValueTask<T>> action, CancellationToken cancellationToken)
    {
        var store = Volatile.Read(ref _store) ?? await EnsureAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await action(store).ConfigureAwait(false);
        }
        catch (NatsException)
        {
            // The bucket may have gone with a memory-storage server's restart; find or make it again next call.
            Volatile.Write(ref _store, null);
            throw;
        }
    }

    private async ValueTask<INatsKVStore> EnsureAsync(CancellationToken cancellationToken)
    {
        var store = await NatsBuckets.EnsureAsync(_kv, _options.TransferBucket(), _options, maxAge: TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _store, store);
        return store;
    }
}
