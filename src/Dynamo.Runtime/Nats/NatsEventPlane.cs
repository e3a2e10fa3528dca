using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Tracing;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace Dynamo.Runtime.Nats;

/// <summary>
/// The event plane on NATS core subjects: <c>{namespace}.{subject}</c>, JSON payloads, and the publisher's trace
/// context in the <c>traceparent</c>/<c>tracestate</c> headers. Subscriptions survive reconnections (the client
/// re-subscribes); what was published while a subscriber was cut off is lost, as on any core subject.
/// </summary>
public sealed class NatsEventPlane : IEventPlane
{
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    private readonly INatsConnection _connection;
    private readonly string _prefix;
    private readonly JsonSerializerOptions _json;
    private readonly ILogger _logger;

    internal NatsEventPlane(INatsConnection connection, string @namespace, JsonSerializerOptions? json, ILogger logger)
    {
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
        NatsHeaders? headers = null;
        TraceContext.Inject(Activity.Current, headers ??= [], static (h, name, value) => h[name] = value);
        await _connection.PublishAsync(_prefix + subject, payload, headers.Count > 0 ? headers : null, serializer: Raw, cancellationToken: cancellationToken).ConfigureAwait(false);
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
}
