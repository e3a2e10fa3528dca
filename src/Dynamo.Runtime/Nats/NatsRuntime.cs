using System.Text.Json;
using Dynamo.Runtime.Security;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;
using NATS.Net;

namespace Dynamo.Runtime.Nats;

/// <summary>
/// One process's connection to NATS and what runs on it: <see cref="Discovery"/> (JetStream KV with leases),
/// <see cref="Events"/> (subjects) and <see cref="Metadata"/> (the transfer-metadata bucket). What
/// <c>dynamo frontend</c> and <c>dynamo worker</c> run on; <c>dynamo serve</c> keeps the in-process implementations.
/// </summary>
public sealed class NatsRuntime : IAsyncDisposable
{
    private readonly NatsConnection _connection;
    private int _disposed;

    private NatsRuntime(NatsConnection connection, NatsDiscovery discovery, NatsEventPlane events, NatsMetadataStore metadata)
    {
        _connection = connection;
        Discovery = discovery;
        Events = events;
        Metadata = metadata;
    }

    public NatsDiscovery Discovery { get; }

    public NatsEventPlane Events { get; }

    public NatsMetadataStore Metadata { get; }

    /// <summary>What this connection dropped because its cluster signature did not verify.</summary>
    public SignatureRejections Rejections => Discovery.Rejections;

    /// <summary>The underlying connection, for parts that need NATS directly.</summary>
    public INatsConnection Connection => _connection;

    public bool IsConnected => _connection.ConnectionState == NatsConnectionState.Open;

    /// <summary>
    /// Validates <paramref name="options"/>, connects, ensures the buckets, and returns once discovery holds the
    /// bucket's current contents. Registrations, events and transfer metadata are signed with
    /// <paramref name="clusterSecret"/>, and what does not verify against it is dropped (<see cref="Rejections"/>).
    /// </summary>
    /// <param name="eventJson">How event payloads are serialized; default <see cref="Events.EventJson.Options"/>.</param>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">An option is invalid; the message names the key and the value.</exception>
    /// <exception cref="NatsException">The server cannot be reached, refuses the credentials, or has no JetStream.</exception>
    public static async Task<NatsRuntime> ConnectAsync(
        NatsOptions options,
        ClusterSecret clusterSecret,
        ILoggerFactory loggerFactory,
        TimeProvider? time = null,
        JsonSerializerOptions? eventJson = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(clusterSecret);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        NatsOptionsValidator.ThrowIfInvalid(options);
        var logger = loggerFactory.CreateLogger<NatsRuntime>();
        NatsLog.Options(logger, options.Describe());
        var tls = new NatsTlsDiagnosis(options.Tls);
        var connection = new NatsConnection(CreateClientOptions(options, loggerFactory, tls));
        NatsDiscovery? discovery = null;
        try
        {
            try
            {
                await connection.ConnectAsync().AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (NatsException ex)
            {
                var reason = tls.Failure is { } failure ? $"TLS handshake failed: {failure}" : ex.Message;
                throw new NatsException($"Cannot connect to NATS at {NatsOptions.RedactUrls(options.Url)} ({NatsOptions.SectionName}:Url): {reason}", ex);
            }

            var kv = connection.CreateKeyValueStoreContext();
            var rejections = new SignatureRejections();
            discovery = new NatsDiscovery(connection, kv, options, clusterSecret, rejections, time ?? TimeProvider.System, loggerFactory.CreateLogger<NatsDiscovery>());
            await discovery.StartAsync(cancellationToken).ConfigureAwait(false);
            var events = new NatsEventPlane(connection, options.Namespace, eventJson, clusterSecret, rejections, loggerFactory.CreateLogger<NatsEventPlane>());
            var metadata = new NatsMetadataStore(kv, options, clusterSecret, rejections, loggerFactory.CreateLogger<NatsMetadataStore>());
            NatsLog.Connected(logger, connection.ServerInfo?.Name ?? NatsOptions.RedactUrls(options.Url), options.DiscoveryBucket(), options.TransferBucket());
            return new NatsRuntime(connection, discovery, events, metadata);
        }
        catch
        {
            if (discovery is not null)
            {
                await discovery.DisposeAsync().ConfigureAwait(false);
            }

            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await Discovery.DisposeAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    private static bool RequiresTls(NatsOptions options) =>
        options.Tls.Mode.ToLowerInvariant() is "require" or "implicit"
        || options.Tls.CaFile is not null
        || options.Tls.CertFile is not null
        || options.Url.Split(',').Any(url => url.Trim().StartsWith("tls://", StringComparison.OrdinalIgnoreCase));

    internal static NatsOpts CreateClientOptions(NatsOptions options, ILoggerFactory loggerFactory, NatsTlsDiagnosis? diagnosis = null)
    {
        var auth = NatsAuthOpts.Default with
        {
            Username = options.User,
            Password = options.Password,
            Token = options.Token,
            CredsFile = options.CredentialsFile,
        };
        var tls = NatsTlsOpts.Default with
        {
            Mode = options.Tls.Mode.ToLowerInvariant() switch
            {
                "disable" => TlsMode.Disable,
                "prefer" => TlsMode.Prefer,
                "require" => TlsMode.Require,
                "implicit" => TlsMode.Implicit,
                _ => TlsMode.Auto,
            },
            CaFile = options.Tls.CaFile,
            CertFile = options.Tls.CertFile,
            KeyFile = options.Tls.KeyFile,
            InsecureSkipVerify = options.Tls.InsecureSkipVerify,
            // Only where TLS is required anyway: the client library takes any callback as a reason to require TLS.
            ConfigureClientAuthentication = diagnosis is not null && RequiresTls(options) ? diagnosis.ConfigureAsync : null,
        };
        return NatsOpts.Default with
        {
            Url = options.Url,
            Name = options.ClientName ?? $"dynamo-{Environment.ProcessId}",
            AuthOpts = auth,
            TlsOpts = tls,
            ConnectTimeout = options.ConnectTimeout,
            ReconnectWaitMin = options.ReconnectWaitMin,
            ReconnectWaitMax = options.ReconnectWaitMax,
            MaxReconnectRetry = -1,
            LoggerFactory = loggerFactory,
        };
    }
}
