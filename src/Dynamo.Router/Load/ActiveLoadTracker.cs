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

    public ActiveLoadTracker(TimeProvider time, TimeSpan ttl)
    {
        _time = time;
        _ttl = ttl;
    }

    public ActiveLoad Get(string instanceId) =>
        _workers.TryGetValue(instanceId, out var load) ? load.Snapshot() : default;

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

        var created = new WorkerLoad();
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

        FindOrCreate(entry.InstanceId).Add(entry.PrefillTokens, entry.Blocks);
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
            load.Remove(prefilled ? 0 : entry.PrefillTokens, entry.Blocks, prefilled);
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

    internal sealed class WorkerLoad
    {
        private int _requests;
        private int _prefillTokens;
        private int _blocks;
        private int _prefilling;

        public void Add(int prefillTokens, int blocks)
        {
            Interlocked.Increment(ref _requests);
            Interlocked.Increment(ref _prefilling);
            Interlocked.Add(ref _prefillTokens, prefillTokens);
            Interlocked.Add(ref _blocks, blocks);
        }

        public void PrefillDone(int prefillTokens)
        {
            Interlocked.Decrement(ref _prefilling);
            Interlocked.Add(ref _prefillTokens, -prefillTokens);
        }

        public void Remove(int prefillTokens, int blocks, bool prefilled)
        {
            Interlocked.Decrement(ref _requests);
            if (!prefilled)
            {
                Interlocked.Decrement(ref _prefilling);
            }

            Interlocked.Add(ref _prefillTokens, -prefillTokens);
            Interlocked.Add(ref _blocks, -blocks);
        }

        public ActiveLoad Snapshot() => new(Volatile.Read(ref _requests), Volatile.Read(ref _prefillTokens), Volatile.Read(ref _blocks))
        {
            Prefilling = Volatile.Read(ref _prefilling),
        };
    }
}
