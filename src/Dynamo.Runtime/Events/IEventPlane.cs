namespace Dynamo.Runtime.Events;

/// <summary>
/// Fire-and-forget messages between parts (KV events, load metrics) on named subjects. The in-process plane is
/// the default; the NATS one publishes on real subjects.
/// </summary>
public interface IEventPlane
{
    ValueTask PublishAsync<T>(string subject, T message, CancellationToken cancellationToken = default);

    /// <summary>Messages published on <paramref name="subject"/> after the call, until cancelled.</summary>
    IAsyncEnumerable<T> SubscribeAsync<T>(string subject, CancellationToken cancellationToken = default);
}
