using Dynamo.Contracts.KvEvents;
using Dynamo.Router.Indexing;

namespace Dynamo.Router.Kv;

/// <summary>
/// Approximate mode, for engines that publish no KV events: the router assumes the worker it chose now caches the
/// prompt's blocks and forgets that assumption after a TTL (default 120 s, Dynamo's), unless a later decision for the
/// same blocks on the same worker renews it.
/// </summary>
internal sealed class ApproximateIndex
{
    private readonly PrefixIndex _index;
    private readonly long _ttlTicks;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<(int Slot, ulong Hash), long> _expiry = [];
    private readonly Queue<Entry> _queue = new();
    private readonly List<ulong> _expired = [];

    public ApproximateIndex(PrefixIndex index, TimeSpan ttl, TimeProvider time)
    {
        _index = index;
        _time = time;
        _ttlTicks = (long)(ttl.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>Entries waiting to expire (one per recorded decision).</summary>
    public int Pending
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    public void Record(string workerId, ReadOnlySpan<ulong> seqHashes)
    {
        var now = _time.GetTimestamp();
        var expiry = now + _ttlTicks;
        lock (_lock)
        {
            Expire(now);
            if (seqHashes.IsEmpty)
            {
                return;
            }

            var slot = _index.GetOrAddWorker(workerId);
            _index.Store(slot, StorageTier.Device, seqHashes);
            foreach (var hash in seqHashes)
            {
                _expiry[(slot, hash)] = expiry;
            }

            _queue.Enqueue(new Entry(expiry, workerId, slot, seqHashes.ToArray()));
        }
    }

    /// <summary>Drops what has expired by now.</summary>
    public void Expire()
    {
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            Expire(now);
        }
    }

    private void Expire(long now)
    {
        while (_queue.TryPeek(out var entry) && entry.Expiry <= now)
        {
            _queue.Dequeue();
            var sameWorker = _index.TryGetSlot(entry.WorkerId, out var slot) && slot == entry.Slot;
            _expired.Clear();
            foreach (var hash in entry.Hashes)
            {
                // Renewed by a later decision when the recorded expiry moved past this entry's.
                if (_expiry.TryGetValue((entry.Slot, hash), out var at) && at <= entry.Expiry)
                {
                    _expiry.Remove((entry.Slot, hash));
                    _expired.Add(hash);
                }
            }

            if (sameWorker && _expired.Count > 0)
            {
                _index.Remove(entry.Slot, StorageTier.Device, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_expired));
            }
        }
    }

    private readonly record struct Entry(long Expiry, string WorkerId, int Slot, ulong[] Hashes);
}
