using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Dynamo.Runtime.Nats;

/// <summary>Finds or creates the runtime's JetStream KV buckets.</summary>
internal static class NatsBuckets
{
    /// <summary>
    /// Creates <paramref name="bucket"/> if it is missing, or takes the existing one as it is (its settings belong to
    /// whoever created it; rewriting them from every process would make them flap).
    /// </summary>
    public static async ValueTask<INatsKVStore> EnsureAsync(INatsKVContext kv, string bucket, NatsOptions options, TimeSpan maxAge, CancellationToken cancellationToken)
    {
        // A JetStream API request that gets no answer in time (a server busy with a slow disk or starved of CPU) is
        // asked again a few times before the process gives up: a worker should not fail to start over one slow reply.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await EnsureOnceAsync(kv, bucket, options, maxAge, cancellationToken).ConfigureAwait(false);
            }
            catch (NatsJSApiNoResponseException) when (attempt < ApiAttempts)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), cancellationToken).ConfigureAwait(false);
            }
            catch (NatsJSApiNoResponseException ex)
            {
                throw new NatsException($"The NATS server at {NatsOptions.RedactUrls(options.Url)} did not answer JetStream requests for bucket {bucket} ({ApiAttempts} attempts); check its load and JetStream storage.", ex);
            }
        }
    }

    /// <summary>How many times a JetStream API request without an answer is made before giving up.</summary>
    internal const int ApiAttempts = 4;

    private static async ValueTask<INatsKVStore> EnsureOnceAsync(INatsKVContext kv, string bucket, NatsOptions options, TimeSpan maxAge, CancellationToken cancellationToken)
    {
        try
        {
            return await kv.GetStoreAsync(bucket, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            // Not there yet.
        }
        catch (NatsNoRespondersException ex)
        {
            throw new NatsException($"The NATS server at {NatsOptions.RedactUrls(options.Url)} does not answer JetStream requests; start it with JetStream enabled (nats-server -js).", ex);
        }

        var config = new NatsKVConfig(bucket)
        {
            History = 1,
            MaxAge = maxAge,
            Storage = options.Storage == "file" ? NatsKVStorageType.File : NatsKVStorageType.Memory,
            Description = $"Dynamo {options.Namespace}",
        };
        try
        {
            return await kv.CreateStoreAsync(config, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.ErrCode == 10058)
        {
            // Another process created it between the two calls.
            return await kv.GetStoreAsync(bucket, cancellationToken).ConfigureAwait(false);
        }
    }
}
