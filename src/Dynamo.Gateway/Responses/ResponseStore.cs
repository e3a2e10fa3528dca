namespace Dynamo.Gateway.Responses;

/// <summary>
/// Completed Responses-API responses kept for <c>previous_response_id</c> and <c>GET /v1/responses/{id}</c>:
/// each with its response object (JSON) and its whole conversation as chat messages (a JSON array, the turns before
/// it included, its own instructions not), bounded by <see cref="ResponsesOptions"/>: entries, bytes and age.
/// </summary>
internal sealed class ResponseStore
{
    private readonly ResponsesOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, LinkedListNode<Entry>> _byId = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _oldestFirst = new();
    private long _bytes;

    public ResponseStore(ResponsesOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
    }

    /// <summary>Responses kept now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _byId.Count;
            }
        }
    }

    /// <summary>Responses dropped to stay within the bounds (not counting those that expired).</summary>
    public long Evicted { get; private set; }

    /// <summary>Keeps a response; false when the store keeps nothing or the response alone exceeds its byte bound.</summary>
    public bool Add(string id, byte[] response, byte[] conversation)
    {
        var size = response.LongLength + conversation.LongLength + (id.Length * 2);
        if (_options.StoreMaxEntries <= 0 || size > _options.StoreMaxBytes)
        {
            return false;
        }

        var entry = new Entry(id, response, conversation, size, _time.GetUtcNow() + _options.StoreTtl);
        lock (_lock)
        {
            RemoveExpired();
            if (_byId.Remove(id, out var existing))
            {
                Unlink(existing);
            }

            while (_byId.Count >= _options.StoreMaxEntries || _bytes + size > _options.StoreMaxBytes)
            {
                var oldest = _oldestFirst.First!;
                _byId.Remove(oldest.Value.Id);
                Unlink(oldest);
                Evicted++;
            }

            _byId[id] = _oldestFirst.AddLast(entry);
            _bytes += size;
        }

        return true;
    }

    /// <summary>The response object kept under <paramref name="id"/>, or null.</summary>
    public byte[]? Response(string id) => Find(id)?.Response;

    /// <summary>The conversation that ends with the response kept under <paramref name="id"/>, or null.</summary>
    public byte[]? Conversation(string id) => Find(id)?.Conversation;

    /// <summary>Forgets a response; false when none was kept under <paramref name="id"/>.</summary>
    public bool Delete(string id)
    {
        lock (_lock)
        {
            RemoveExpired();
            if (!_byId.Remove(id, out var node))
            {
                return false;
            }

            Unlink(node);
            return true;
        }
    }

    private Entry? Find(string id)
    {
        lock (_lock)
        {
            RemoveExpired();
            return _byId.TryGetValue(id, out var node) ? node.Value : null;
        }
    }

    // Entries are added in completion order with one TTL, so the expired ones are at the front.
    private void RemoveExpired()
    {
        var now = _time.GetUtcNow();
        while (_oldestFirst.First is { } first && first.Value.ExpiresAt <= now)
        {
            _byId.Remove(first.Value.Id);
            Unlink(first);
        }
    }

    private void Unlink(LinkedListNode<Entry> node)
    {
        _oldestFirst.Remove(node);
        _bytes -= node.Value.Size;
    }

    private sealed record Entry(string Id, byte[] Response, byte[] Conversation, long Size, DateTimeOffset ExpiresAt);
}
