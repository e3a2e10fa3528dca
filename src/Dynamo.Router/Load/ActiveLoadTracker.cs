using System.Collections.Concurrent;
using Dynamo.Contracts.Routing;

namespace Dynamo.Router.Load;

/// <summary>
/// Predicted load per worker: a request counts from routing until completion; its uncached prompt counts as prefill
/// until the first token. Entries older than the TTL are expired so a lost completion cannot pin load forever.
/// </summary>
public sealed class ActiveLoadTracker
{
    private readonly ConcurrentDictionary<string, Entry> _active = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, WorkerLoad> _workers = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly TimeSpan _ttl;
    private long _nextSweep;
    private int _version;

    private readonly double _busyWindowTicks;

    /// <param name="time">The clock.</param>
    /// <param name="ttl">How long an entry may stay without a completion.</param>
    /// <param name="busyWindow">Time constant of each worker's <see cref="BusyFraction"/>; default 10 s.</param>
    public ActiveLoadTracker(TimeProvider time, TimeSpan ttl, TimeSpan? busyWindow = null)
    {
        _time = time;
        _ttl = ttl;
        _busyWindowTicks = Math.Max(1, (busyWindow ?? TimeSpan.FromSeconds(10)).TotalSeconds * time.TimestampFrequency);
    }

    public ActiveLoad Get(string instanceId) =>
        _workers.TryGetValue(instanceId, out var load) ? load.Snapshot() : default;

    /// <summary>The tracker's clock, read as a timestamp.</summary>
    internal long Now => _time.GetTimestamp();

    /// <summary>
    /// The fraction of recent time <paramref name="instanceId"/> had a request in flight, as this router saw it: an
    /// exponentially weighted average of "requests &gt; 0" over the tracker's busy window. 0 for a worker never routed to.
    /// </summary>
    public double BusyFraction(string instanceId) =>
        _workers.TryGetValue(instanceId, out var load) ? load.BusyFraction(_time.GetTimestamp()) : 0;

    /// <summary>
    /// Changes whenever a worker's load counter is created or dropped: a caller that cached <see cref="FindOrCreate"/>'s
    /// answers (the KV router, per candidate list) knows they still hold while this is unchanged.
    /// </summary>
    internal int Version => Volatile.Read(ref _version);

    /// <summary>
    /// The load counter of <paramref name="instanceId"/>, created (at zero) when it has none. The KV router creates
    /// its candidates' counters up front, so a worker's first request does not change <see cref="Version"/> and
    /// invalidate every cached candidate list: at 1,000 workers that was a thousand rebuilds of the list, each two
    /// string-keyed lookups per candidate.
    /// </summary>
    internal WorkerLoad FindOrCreate(string instanceId)
    {
        if (_workers.TryGetValue(instanceId, out var load))
        {
            return load;
        }

        var created = new WorkerLoad(_busyWindowTicks);
        load = _workers.GetOrAdd(instanceId, created);
        if (ReferenceEquals(load, created))
        {
            // After the insert, so a reader that saw the old version and then no counter looks again.
            Interlocked.Increment(ref _version);
        }

        return load;
    }

    /// <summary>
    /// Counts a routed request: its uncached prompt tokens (prompt less the blocks the worker already holds) as prefill
    /// until the first token, its prompt blocks until completion.
    /// </summary>
    public void Add(RoutingDecision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var (prefillTokens, blocks) = LoadOf(decision);
        Add(decision.RequestId, decision.Worker.InstanceId, prefillTokens, blocks);
    }

    /// <summary>Counts a request under <paramref name="key"/> (another router replica's, for instance). A key already counted is ignored.</summary>
    public void Add(string key, string instanceId, int prefillTokens, int blocks)
    {
        var entry = new Entry(instanceId, Math.Max(0, prefillTokens), Math.Max(0, blocks), _time.GetTimestamp());
        if (!_active.TryAdd(key, entry))
        {
            return;
        }

        FindOrCreate(entry.InstanceId).Add(entry.PrefillTokens, entry.Blocks, entry.StartedAt);
        SweepIfDue();
    }

    public void MarkPrefilled(RoutingDecision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        MarkPrefilled(decision.RequestId);
    }

    public void MarkPrefilled(string key)
    {
        if (_active.TryGetValue(key, out var entry) && entry.TryMarkPrefilled()
            && _workers.TryGetValue(entry.InstanceId, out var load))
        {
            load.PrefillDone(entry.PrefillTokens);
        }
    }

    public void Complete(RoutingDecision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        Remove(decision.RequestId);
    }

    public void Complete(string key) => Remove(key);

    /// <summary>Prefill tokens and blocks a decision adds to its worker.</summary>
    public static (int PrefillTokens, int Blocks) LoadOf(RoutingDecision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var blockSize = Math.Max(1, decision.Worker.BlockSize);
        var blocks = (decision.PromptTokens + blockSize - 1) / blockSize;
        var prefill = Math.Max(0, decision.PromptTokens - (decision.OverlapBlocks * blockSize));
        return (prefill, blocks);
    }

    public void RemoveWorker(string instanceId)
    {
        if (_workers.TryRemove(instanceId, out _))
        {
            Interlocked.Increment(ref _version);
        }

        foreach (var (id, entry) in _active)
        {
            if (entry.InstanceId == instanceId)
            {
                _active.TryRemove(id, out _);
            }
        }
    }

    private void Remove(string requestId)
    {
        if (_active.TryRemove(requestId, out var entry) && _workers.TryGetValue(entry.InstanceId, out var load))
        {
            // Claim the prefill's end here unless MarkPrefilled already did: one of the two takes it off, never both.
            var prefilled = !entry.TryMarkPrefilled();
            load.Remove(prefilled ? 0 : entry.PrefillTokens, entry.Blocks, prefilled, _time.GetTimestamp());
        }
    }

    private void SweepIfDue()
    {
        var now = _time.GetTimestamp();
        var due = Volatile.Read(ref _nextSweep);
        if (now < due || Interlocked.CompareExchange(ref _nextSweep, now + (long)(_time.TimestampFrequency * 10), due) != due)
        {
            return;
        }

        foreach (var (id, entry) in _active)
        {
            if (_time.GetElapsedTime(entry.StartedAt, now) > _ttl)
            {
                Remove(id);
            }
        }
    }

    private sealed class Entry(string instanceId, int prefillTokens, int blocks, long startedAt)
    {
        private int _prefilled;

        public string InstanceId { get; } = instanceId;

        public int PrefillTokens { get; } = prefillTokens;

        public int Blocks { get; } = blocks;

        public long StartedAt { get; } = startedAt;

        public bool TryMarkPrefilled() => Interlocked.Exchange(ref _prefilled, 1) == 0;
    }

    internal sealed class WorkerLoad(double busyWindowTicks)
    {
        private int _requests;
        private int _prefillTokens;
        private int _blocks;
        private int _prefilling;

        // The busy average: its value at _busyAt, and whether the worker has been busy since (requests > 0). Changed
        // only when the count crosses zero, under the lock; read without it (a torn read is one decision's estimate).
        private readonly Lock _busyLock = new();
        private double _busyAverage;
        private long _busyAt;
        private bool _busy;
        private bool _seen;

        public void Add(int prefillTokens, int blocks, long now = 0)
        {
            if (Interlocked.Increment(ref _requests) == 1)
            {
                MarkBusy(now);
            }

            Interlocked.Increment(ref _prefilling);
            Interlocked.Add(ref _prefillTokens, prefillTokens);
            Interlocked.Add(ref _blocks, blocks);
        }

        public void PrefillDone(int prefillTokens)
        {
            Interlocked.Decrement(ref _prefilling);
            Interlocked.Add(ref _prefillTokens, -prefillTokens);
        }

        public void Remove(int prefillTokens, int blocks, bool prefilled, long now = 0)
        {
            if (Interlocked.Decrement(ref _requests) == 0)
            {
                MarkBusy(now);
            }
            if (!prefilled)
            {
                Interlocked.Decrement(ref _prefilling);
            }

            Interlocked.Add(ref _prefillTokens, -prefillTokens);
            Interlocked.Add(ref _blocks, -blocks);
        }

        /// <summary>The busy average at <paramref name="now"/>: the last value decayed, plus the time since if busy.</summary>
        public double BusyFraction(long now)
        {
            var elapsed = now - Volatile.Read(ref _busyAt);
            var average = Volatile.Read(ref _busyAverage);
            if (elapsed <= 0)
            {
                return average;
            }

            var keep = Math.Exp(-elapsed / busyWindowTicks);
            return (average * keep) + (Volatile.Read(ref _busy) ? 1 - keep : 0);
        }

        /// <summary>The count crossed zero: fold the interval before into the average, then record the state now.</summary>
        private void MarkBusy(long now)
        {
            lock (_busyLock)
            {
                if (_seen)
                {
                    _busyAverage = BusyFraction(now);
                }

                _seen = true;
                _busyAt = Math.Max(now, _busyAt);
                _busy = Volatile.Read(ref _requests) > 0;
            }
        }

        public ActiveLoad Snapshot() => new(Volatile.Read(ref _requests), Volatile.Read(ref _prefillTokens), Volatile.Read(ref _blocks))
        {
            Prefilling = Volatile.Read(ref _prefilling),
        };
    }
}
