using System.Buffers.Text;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Observability;
using Dynamo.Runtime.Security;
using Dynamo.Runtime.Tracing;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace Dynamo.Runtime.Nats;

/// <summary>
/// The event plane on NATS core subjects: <c>{namespace}.{subject}</c>, JSON payloads, and the publisher's trace
/// context in the <c>traceparent</c>/<c>tracestate</c> headers. Subscriptions survive reconnections (the client
/// re-subscribes); what was published while a subscriber was cut off is lost, as on any core subject.
/// </summary>
/// <remarks>
/// Every message carries the cluster secret's MAC of its full subject and payload in the <see cref="SignatureHeader"/>
/// header, and subscribers drop (count and log, one line per subject and reason per minute) what does not verify, so
/// only members of the deployment can publish KV events, load reports or routers' active load. The MAC does not
/// cover time: a genuine message captured from the subject can be published again (KV events carry ids, which the
/// indexer uses to spot repeats and gaps; a repeated load report is overwritten by the next one within a second).
/// </remarks>
public sealed class NatsEventPlane : IEventPlane
{
    /// <summary>The NATS header carrying a message's signature (unpadded base64url).</summary>
    public const string SignatureHeader = "Dynamo-Signature";

    private const string Purpose = "event";
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    private readonly INatsConnection _connection;
    private readonly string _prefix;
    private readonly JsonSerializerOptions _json;
    private readonly ILogger _logger;
    private readonly ClusterSecret _secret;
    private readonly SignatureRejections _rejections;
    private readonly LogThrottle _rejectionLog = new(TimeSpan.FromMinutes(1));

    internal NatsEventPlane(
        INatsConnection connection, string @namespace, JsonSerializerOptions? json, ClusterSecret secret, SignatureRejections rejections, ILogger logger)
    {
        _secret = secret;
        _rejections = rejections;
        _connection = connection;
        _prefix = @namespace + ".";
        _json = json ?? EventJson.Options;
        _logger = logger;
    }

    public async ValueTask PublishAsync<T>(string subject, T message, CancellationToken cancellationToken = default)
    {
        EventSubjects.Validate(subject);
        ArgumentNullException.ThrowIfNull(message);
        var payload = JsonSerializer.SerializeToUtf8Bytes(message, _json);
        var fullSubject = _prefix + subject;
        var headers = new NatsHeaders { [SignatureHeader] = Base64Url.EncodeToString(_secret.Sign(Purpose, fullSubject, payload)) };
        TraceContext.Inject(Activity.Current, headers, static (h, name, value) => h[name] = value);
        await _connection.PublishAsync(fullSubject, payload, headers, serializer: Raw, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<T> SubscribeAsync<T>(string subject, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var message in SubscribeMessagesAsync<T>(subject, cancellationToken).ConfigureAwait(false))
        {
            yield return message.Payload;
        }
    }

    public async IAsyncEnumerable<EventMessage<T>> SubscribeMessagesAsync<T>(string subject, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        EventSubjects.Validate(subject);
        await foreach (var msg in _connection.SubscribeAsync(_prefix + subject, serializer: Raw, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (Unverified(msg) is { } reason)
            {
                _rejections.Add(SignatureRejections.Event, reason);
                if (_rejectionLog.ShouldLog(subject + " " + reason, out var skipped))
                {
                    NatsLog.RejectedEvent(_logger, subject, reason, skipped);
                }

                continue;
            }

            T? payload;
            try
            {
                payload = msg.Data is { Length: > 0 } data ? JsonSerializer.Deserialize<T>(data, _json) : default;
            }
            catch (JsonException ex)
            {
                NatsLog.BadEvent(_logger, subject, typeof(T).Name, ex);
                continue;
            }

            if (payload is null)
            {
                NatsLog.BadEvent(_logger, subject, typeof(T).Name, new JsonException("The message is empty or null."));
                continue;
            }

            var parent = msg.Headers is { } headers
                ? TraceContext.Extract(headers, static (h, name) => h.TryGetValue(name, out var values) ? values.ToString() : null)
                : default;
            yield return new EventMessage<T>(subject, payload, parent);
        }
    }

    /// <summary>Null when the message carries this cluster's signature of its subject and payload; otherwise why not.</summary>
    private string? Unverified(NatsMsg<byte[]> msg)
    {
        if (msg.Headers is not { } headers || !headers.TryGetValue(SignatureHeader, out var values) || values.Count != 1)
        {
            return SignatureRejections.Unsigned;
        }

        var signature = values.ToString();
        return Base64Url.IsValid(signature) && _secret.Verify(Purpose, msg.Subject, msg.Data ?? [], Base64Url.DecodeFromChars(signature))
            ? null
            : SignatureRejections.BadSignature;
    }
}
