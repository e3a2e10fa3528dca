using System.Threading.Channels;

namespace Dynamo.DevCluster.Watch;

/// <summary>
/// Keeps a bounded window of recent changes and fans each new change out to the open watches. Every method is called
/// under the store's lock, so a watch's replay and its live events form one gap-free, ordered sequence.
/// </summary>
public sealed class WatchHub
{
    private readonly Queue<WatchEvent> _history = new();
    private readonly List<WatchSubscription> _subscribers = [];
    private readonly int _capacity;
    private readonly int _subscriberBuffer;

    public WatchHub(int historyCapacity, int subscriberBuffer)
    {
        _capacity = historyCapacity;
        _subscriberBuffer = subscriberBuffer;
    }

    /// <summary>Changes with a resourceVersion above this one are all still in the window.</summary>
    public long CompactedResourceVersion { get; private set; }

    public int SubscriberCount => _subscribers.Count;

    /// <summary>Sets the first version this hub can replay from (the store's starting version).</summary>
    public void StartAt(long resourceVersion) => CompactedResourceVersion = resourceVersion;

    public void Publish(WatchEvent e)
    {
        _history.Enqueue(e);
        while (_history.Count > _capacity)
        {
            CompactedResourceVersion = _history.Dequeue().ResourceVersion;
        }
        for (var i = _subscribers.Count - 1; i >= 0; i--)
        {
            var s = _subscribers[i];
            if (s.StorageKey != e.StorageKey) continue;
            if (!s.Writer.TryWrite(e))
            {
                // A watcher that fell a whole buffer behind is closed; the client reconnects from its last version.
                s.Writer.TryComplete(new WatchOverflowException());
                _subscribers.RemoveAt(i);
            }
        }
    }

    /// <summary>
    /// Opens a watch of <paramref name="storageKey"/> that first replays every retained change after
    /// <paramref name="fromResourceVersion"/>. Null when that version is older than the window (the caller answers 410).
    /// </summary>
    public WatchSubscription? Subscribe(string storageKey, long fromResourceVersion)
    {
        if (fromResourceVersion < CompactedResourceVersion) return null;
        var channel = Channel.CreateBounded<WatchEvent>(new BoundedChannelOptions(_subscriberBuffer)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        var sub = new WatchSubscription(storageKey, channel, this);
        foreach (var e in _history)
        {
            if (e.ResourceVersion > fromResourceVersion && e.StorageKey == storageKey && !channel.Writer.TryWrite(e))
            {
                channel.Writer.TryComplete(new WatchOverflowException());
                return sub;
            }
        }
        _subscribers.Add(sub);
        return sub;
    }

    internal void Remove(WatchSubscription sub) => _subscribers.Remove(sub);

    /// <summary>Closes every open watch (server shutdown).</summary>
    public void CompleteAll()
    {
        foreach (var s in _subscribers) s.Writer.TryComplete();
        _subscribers.Clear();
    }
}

/// <summary>An open watch: the reader side of its change queue.</summary>
public sealed class WatchSubscription
{
    private readonly Channel<WatchEvent> _channel;
    private readonly WatchHub _hub;

    internal WatchSubscription(string storageKey, Channel<WatchEvent> channel, WatchHub hub)
    {
        StorageKey = storageKey;
        _channel = channel;
        _hub = hub;
    }

    public string StorageKey { get; }
    public ChannelReader<WatchEvent> Reader => _channel.Reader;
    internal ChannelWriter<WatchEvent> Writer => _channel.Writer;

    /// <summary>Unregisters; call under the store's lock.</summary>
    internal void Detach()
    {
        _hub.Remove(this);
        _channel.Writer.TryComplete();
    }
}

/// <summary>The watcher read too slowly and its buffer filled.</summary>
public sealed class WatchOverflowException : Exception
{
    public WatchOverflowException() : base("the watch fell too far behind and was closed") { }
}
