using System.Security.Cryptography;
using Dynamo.Runtime.Metadata;
using Dynamo.Runtime.Observability;
using Dynamo.Runtime.Security;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace Dynamo.Runtime.Nats;

/// <summary>
/// <see cref="IMetadataStore"/> in the JetStream KV bucket <see cref="NatsOptions.TransferBucket"/>: where the KV
/// transfer library publishes each worker's transfer metadata for its peers. Values do not expire.
/// </summary>
/// <remarks>
/// Each stored value is the cluster secret's MAC of its key and payload (32 bytes) followed by the payload; a value
/// that does not verify reads as absent (and is counted and logged), so a client without the secret cannot point a
/// decode worker at an agent of its own.
/// </remarks>
public sealed class NatsMetadataStore : IMetadataStore
{
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    private readonly INatsKVContext _kv;
    private const string Purpose = "transfer-metadata";
    private const int MacLength = HMACSHA256.HashSizeInBytes;

    private readonly NatsOptions _options;
    private readonly ClusterSecret _secret;
    private readonly SignatureRejections _rejections;
    private readonly ILogger _logger;
    private readonly LogThrottle _rejectionLog = new(TimeSpan.FromMinutes(1));
    private INatsKVStore? _store;

    internal NatsMetadataStore(INatsKVContext kv, NatsOptions options, ClusterSecret secret, SignatureRejections rejections, ILogger logger)
    {
        _kv = kv;
        _options = options;
        _secret = secret;
        _rejections = rejections;
        _logger = logger;
    }

    public async ValueTask PutAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        MetadataKeys.Validate(key);
        var signed = new byte[MacLength + value.Length];
        _secret.Sign(Purpose, key, value.Span).CopyTo(signed, 0);
        value.Span.CopyTo(signed.AsSpan(MacLength));
        await WithStoreAsync(store => store.PutAsync(key, signed, Raw, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        MetadataKeys.Validate(key);
        return await WithStoreAsync(
            async store =>
            {
                var result = await store.TryGetEntryAsync(key, serializer: Raw, cancellationToken: cancellationToken).ConfigureAwait(false);
                return result.Success && result.Value.Operation == NatsKVOperation.Put ? Verified(key, result.Value.Value ?? []) : null;
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

    /// <summary>The payload of a signed value; null (as if absent) when the signature does not verify.</summary>
    private byte[]? Verified(string key, byte[] stored)
    {
        if (stored.Length >= MacLength && _secret.Verify(Purpose, key, stored.AsSpan(MacLength), stored.AsSpan(0, MacLength)))
        {
            return stored[MacLength..];
        }

        _rejections.Add(SignatureRejections.TransferMetadata, SignatureRejections.BadSignature);
        if (_rejectionLog.ShouldLog(key, out var skipped))
        {
            NatsLog.RejectedMetadata(_logger, key, SignatureRejections.BadSignature, skipped);
        }

        return null;
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
