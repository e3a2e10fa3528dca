using System.Collections.Concurrent;
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
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Channel<object>, byte>> _subjects = new(StringComparer.Ordinal);
    private readonly int _capacity;

    public InProcessEventPlane(int subscriberCapacity = 65_536)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(subscriberCapacity, 1);
        _capacity = subscriberCapacity;
    }

    public ValueTask PublishAsync<T>(string subject, T message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_subjects.TryGetValue(subject, out var subscribers))
        {
            foreach (var channel in subscribers.Keys)
            {
                channel.Writer.TryWrite(message);
            }
        }

        return ValueTask.CompletedTask;
    }

    public async IAsyncEnumerable<T> SubscribeAsync<T>(string subject, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateBounded<object>(new BoundedChannelOptions(_capacity)
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
                if (item is T typed)
                {
                    yield return typed;
                }
            }
        }
        finally
        {
            subscribers.TryRemove(channel, out _);
        }
    }
}
