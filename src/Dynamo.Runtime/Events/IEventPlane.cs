using System.Runtime.CompilerServices;

namespace Dynamo.Runtime.Events;

/// <summary>
/// Fire-and-forget messages between parts (KV events, load metrics) on named subjects. The in-process plane is
/// the default; the NATS one publishes on real subjects. Both check subjects the same way
/// (<see cref="EventSubjects.Validate"/>): dot-separated tokens of letters, digits, <c>-</c> and <c>_</c>, no wildcards.
/// </summary>
/// <remarks>
/// A subscription is live from the first <c>MoveNextAsync</c> of its enumerator; messages published before that are
/// not delivered. A slow subscriber loses messages rather than slowing publishers (KV events carry ids so gaps show).
/// The publisher's <see cref="System.Diagnostics.Activity.Current"/> travels with the message as W3C trace context.
/// </remarks>
public interface IEventPlane
{
    ValueTask PublishAsync<T>(string subject, T message, CancellationToken cancellationToken = default);

    /// <summary>Messages published on <paramref name="subject"/> after the call, until cancelled.</summary>
    IAsyncEnumerable<T> SubscribeAsync<T>(string subject, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="SubscribeAsync{T}"/>, with the publisher's trace context for a linked or child activity.
    /// Planes that carry no trace context (test doubles) get this default, with an empty context.
    /// </summary>
    IAsyncEnumerable<EventMessage<T>> SubscribeMessagesAsync<T>(string subject, CancellationToken cancellationToken = default) =>
        WithoutContext(SubscribeAsync<T>(subject, cancellationToken), subject, cancellationToken);

    private static async IAsyncEnumerable<EventMessage<T>> WithoutContext<T>(
        IAsyncEnumerable<T> messages, string subject, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var message in messages.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            yield return new EventMessage<T>(subject, message, default);
        }
    }
}
