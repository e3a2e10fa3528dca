using Dynamo.Contracts.Discovery;

namespace Dynamo.Runtime.Discovery;

/// <summary>
/// What an observer knows of remote registrations: each instance under its key, with the time its lease was last
/// renewed (by the observer's own monotonic clock, so the clocks of other machines do not matter) and the lease
/// length its owner declared. Not thread-safe: the owner serializes calls.
/// </summary>
internal sealed class LeaseTable
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public int Count => _entries.Count;

    public bool Contains(string key) => _entries.ContainsKey(key);

    /// <summary>Records a heartbeat (or first sight) of <paramref name="instance"/> at <paramref name="now"/>.</summary>
    /// <returns>
    /// What observers should hear: added, replaced (same key, different description; <paramref name="previous"/> is
    /// the old one), or nothing new.
    /// </returns>
    public LeaseRenewal Renew(string key, WorkerInstance instance, TimeSpan ttl, long now, out WorkerInstance? previous)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            entry.RenewedAt = now;
            entry.Ttl = ttl;
            if (entry.Instance == instance)
            {
                previous = null;
                return LeaseRenewal.Renewed;
            }

            previous = entry.Instance;
            entry.Instance = instance;
            return LeaseRenewal.Replaced;
        }

        _entries.Add(key, new Entry { Instance = instance, RenewedAt = now, Ttl = ttl });
        previous = null;
        return LeaseRenewal.Added;
    }

    public bool TryRemove(string key, out WorkerInstance? instance)
    {
        if (_entries.Remove(key, out var entry))
        {
            instance = entry.Instance;
            return true;
        }

        instance = null;
        return false;
    }

    /// <summary>Removes and returns the instances whose lease ran out: not renewed for at least their TTL.</summary>
    public List<WorkerInstance> RemoveExpired(long now, TimeProvider time)
    {
        List<string>? keys = null;
        foreach (var (key, entry) in _entries)
        {
            if (time.GetElapsedTime(entry.RenewedAt, now) >= entry.Ttl)
            {
                (keys ??= []).Add(key);
            }
        }

        var expired = new List<WorkerInstance>(keys?.Count ?? 0);
        foreach (var key in keys ?? [])
        {
            _entries.Remove(key, out var entry);
            expired.Add(entry!.Instance);
        }

        return expired;
    }

    /// <summary>How long until the first lease runs out (zero when one already has); null when the table is empty.</summary>
    public TimeSpan? NextExpiry(long now, TimeProvider time)
    {
        TimeSpan? next = null;
        foreach (var entry in _entries.Values)
        {
            var left = entry.Ttl - time.GetElapsedTime(entry.RenewedAt, now);
            if (next is null || left < next)
            {
                next = left;
            }
        }

        return next < TimeSpan.Zero ? TimeSpan.Zero : next;
    }

    /// <summary>
    /// Counts every lease as renewed at <paramref name="now"/>: an observer that was cut off could not see
    /// heartbeats, so each instance gets one full lease from the reconnection to show it is still alive.
    /// </summary>
    public void RenewAll(long now)
    {
        foreach (var entry in _entries.Values)
        {
            entry.RenewedAt = now;
        }
    }

    public IReadOnlyList<WorkerInstance> Snapshot() =>
        [.. _entries.Values.Select(e => e.Instance).OrderBy(i => i.InstanceId, StringComparer.Ordinal)];

    private sealed class Entry
    {
        public required WorkerInstance Instance { get; set; }

        public long RenewedAt { get; set; }

        public TimeSpan Ttl { get; set; }
    }
}

internal enum LeaseRenewal
{
    Renewed,
    Added,
    Replaced,
}
