using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Dynamo.Runtime.Events;

/// <summary>
/// In-process subjects: each subscriber gets its own bounded channel. A slow subscriber loses the oldest
/// messages rather than blocking publishers, as a NATS core subscription would; KV events carry ids, so the
/// router notices the gap and asks for a replay.
/// </summary>
public sealed class InProcessEventPlane : IEventPlane
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Channel<Envelope>, byte>> _subjects = new(StringComparer.Ordinal);
    private readonly int _capacity;

    public InProcessEventPlane(int subscriberCapacity = 65_536)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(subscriberCapacity, 1);
        _capacity = subscriberCapacity;
    }

    public ValueTask PublishAsync<T>(string subject, T message, CancellationToken cancellationToken = default)
    {
        EventSubjects.Validate(subject);
        ArgumentNullException.ThrowIfNull(message);
        cancellationToken.ThrowIfCancellationRequested();
        if (_subjects.TryGetValue(subject, out var subscribers))
        {
            var envelope = new Envelope(message, Activity.Current?.Context ?? default);
            foreach (var channel in subscribers.Keys)
            {
                channel.Writer.TryWrite(envelope);
            }
        }

        return ValueTask.CompletedTask;
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
        var channel = Channel.CreateBounded<Envelope>(new BoundedChannelOptions(_capacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        var subscribers = _subjects.GetOrAdd(subject, _ => new());
        subscribers.TryAdd(channel, 0);
        try
        {
            await foreach (var item in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (item.Payload is T typed)
                {
                    yield return new EventMessage<T>(subject, typed, item.Parent);
                }
            }
        }
        finally
        {
            subscribers.TryRemove(channel, out _);
        }
    }

    private readonly record struct Envelope(object Payload, ActivityContext Parent);
}
