using System.Collections.Concurrent;
using Dynamo.Contracts.Routing;

namespace Dynamo.Router.Load;

/// <summary>
/// Predicted load per worker: a request counts from routing until completion; its prompt counts as prefill
/// until the first token. Entries older than the TTL are expired so a lost completion cannot pin load forever.
/// </summary>
public sealed class ActiveLoadTracker
{
    private readonly ConcurrentDictionary<string, Entry> _active = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, WorkerLoad> _workers = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly TimeSpan _ttl;
    private long _nextSweep;

    public ActiveLoadTracker(TimeProvider time, TimeSpan ttl)
    {
        _time = time;
        _ttl = ttl;
    }

    public ActiveLoad Get(string instanceId) =>
        _workers.TryGetValue(instanceId, out var load) ? load.Snapshot() : default;

    public void Add(RoutingDecision decision)
    {
        var blocks = BlocksFor(decision);
        var entry = new Entry(decision.Worker.InstanceId, decision.PromptTokens, blocks, _time.GetTimestamp());
        if (!_active.TryAdd(decision.RequestId, entry))
        {
            return;
        }

        _workers.GetOrAdd(entry.InstanceId, _ => new WorkerLoad()).Add(entry.PrefillTokens, blocks);
        SweepIfDue();
    }

    public void MarkPrefilled(RoutingDecision decision)
    {
        if (_active.TryGetValue(decision.RequestId, out var entry) && entry.TryMarkPrefilled()
            && _workers.TryGetValue(entry.InstanceId, out var load))
        {
            load.PrefillDone(entry.PrefillTokens);
        }
    }

    public void Complete(RoutingDecision decision) => Remove(decision.RequestId);

    public void RemoveWorker(string instanceId)
    {
        _workers.TryRemove(instanceId, out _);
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
            load.Remove(entry.IsPrefilled ? 0 : entry.PrefillTokens, entry.Blocks);
        }
    }

    private static int BlocksFor(RoutingDecision decision)
    {
        var blockSize = Math.Max(1, decision.Worker.BlockSize);
        return (decision.PromptTokens + blockSize - 1) / blockSize;
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

        public bool IsPrefilled => Volatile.Read(ref _prefilled) == 1;

        public bool TryMarkPrefilled() => Interlocked.Exchange(ref _prefilled, 1) == 0;
    }

    private sealed class WorkerLoad
    {
        private int _requests;
        private int _prefillTokens;
        private int _blocks;

        public void Add(int prefillTokens, int blocks)
        {
            Interlocked.Increment(ref _requests);
            Interlocked.Add(ref _prefillTokens, prefillTokens);
            Interlocked.Add(ref _blocks, blocks);
        }

        public void PrefillDone(int prefillTokens) => Interlocked.Add(ref _prefillTokens, -prefillTokens);

        public void Remove(int prefillTokens, int blocks)
        {
            Interlocked.Decrement(ref _requests);
            Interlocked.Add(ref _prefillTokens, -prefillTokens);
            Interlocked.Add(ref _blocks, -blocks);
        }

        public ActiveLoad Snapshot() => new(Volatile.Read(ref _requests), Volatile.Read(ref _prefillTokens), Volatile.Read(ref _blocks));
    }
}
