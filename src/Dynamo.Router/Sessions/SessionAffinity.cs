using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Routing;

namespace Dynamo.Router.Sessions;

/// <summary>
/// Session affinity (<c>nvext.session_id</c>), shared by every router mode: a session's requests go to the worker that
/// served its last one, which holds its context, while that worker is a candidate and not overloaded; otherwise the
/// mode chooses as usual and the session moves to the worker chosen. Overloaded is the KV router's hot-spot test: more
/// than <see cref="RouterOptions.BalanceAbsoluteThreshold"/> requests in flight above the least busy candidate and more
/// than <see cref="RouterOptions.BalanceRelativeThreshold"/> times its count (a threshold of 0: never).
/// </summary>
/// <remarks>
/// The map is bounded: at most <see cref="RouterOptions.MaxSessions"/> sessions, the least recently used dropped first,
/// and a session idle for <see cref="RouterOptions.SessionTtl"/> is forgotten. A worker that leaves
/// (<see cref="RemoveWorker"/>) takes its sessions with it, so their next requests are placed afresh and stick to the
/// new worker. The map is this router's own: gateway replicas do not share it. Thread-safe (one lock, held for a
/// dictionary probe or a list splice; <see cref="RemoveWorker"/> walks the map).
/// </remarks>
public sealed class SessionAffinity
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, LinkedListNode<Entry>> _sessions = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _recent = new();
    private readonly TimeProvider _time;
    private readonly long _ttlTicks;
    private readonly int _maxSessions;
    private readonly int _balanceAbsolute;
    private readonly double _balanceRelative;

    public SessionAffinity(RouterOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        _ttlTicks = (long)Math.Min(long.MaxValue / 2.0, options.SessionTtl.TotalSeconds * time.TimestampFrequency);
        _maxSessions = options.MaxSessions;
        _balanceAbsolute = options.BalanceAbsoluteThreshold;
        _balanceRelative = options.BalanceRelativeThreshold;
    }

    /// <summary>Sessions remembered (expired ones included until they are next looked at or pushed out).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _sessions.Count;
            }
        }
    }

    /// <summary>Whether the overload test can ever fire (a threshold of 0 turns it off).</summary>
    internal bool ChecksLoad => _balanceAbsolute > 0;

    /// <summary>The worker a session is remembered on, or null (never seen, forgotten, or expired).</summary>
    public string? WorkerOf(string sessionId)
    {
        ArgumentNullException.ThrowIfNull(sessionId);
        lock (_lock)
        {
            return Live(sessionId, _time.GetTimestamp()) is { } node ? node.Value.Worker : null;
        }
    }

    /// <summary>
    /// Where <paramref name="sessionId"/>'s worker is among <paramref name="candidates"/>, or -1 when the session is
    /// unknown or its worker is not a candidate (gone, unhealthy, or failed this request). <paramref name="known"/>
    /// says whether the session was remembered at all.
    /// </summary>
    internal int Find(string sessionId, IReadOnlyList<WorkerInstance> candidates, out bool known)
    {
        string worker;
        lock (_lock)
        {
            if (Live(sessionId, _time.GetTimestamp()) is not { } node)
            {
                known = false;
                return -1;
            }

            worker = node.Value.Worker;
        }

        known = true;
        for (var i = 0; i < candidates.Count; i++)
        {
            if (string.Equals(candidates[i].InstanceId, worker, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>True when a worker with <paramref name="requests"/> in flight is over both thresholds against the least busy candidate's <paramref name="fewest"/>.</summary>
    internal bool IsOverloaded(int requests, int fewest) =>
        _balanceAbsolute > 0 && requests - fewest > _balanceAbsolute && requests > _balanceRelative * fewest;

    /// <summary>The session's request went to <paramref name="instanceId"/>: remember it there, as the most recent.</summary>
    internal void Record(string sessionId, string instanceId)
    {
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            if (_sessions.TryGetValue(sessionId, out var node))
            {
                node.Value.Worker = instanceId;
                node.Value.LastUsed = now;
                _recent.Remove(node);
                _recent.AddFirst(node);
            }
            else
            {
                _sessions[sessionId] = _recent.AddFirst(new Entry(sessionId, instanceId, now));
            }

            // The least recently used go first: beyond the bound, and any that expired (cheap: they sit at the end).
            while (_recent.Last is { } last && (_sessions.Count > _maxSessions || now - last.Value.LastUsed > _ttlTicks))
            {
                _recent.RemoveLast();
                _sessions.Remove(last.Value.Session);
            }
        }
    }

    /// <summary>Outcome and bookkeeping of one decision: <paramref name="chosen"/> served the session (null: no session).</summary>
    internal SessionRouting Complete(string? sessionId, bool hit, bool known, WorkerInstance chosen)
    {
        if (sessionId is null)
        {
            return SessionRouting.None;
        }

        Record(sessionId, chosen.InstanceId);
        return hit ? SessionRouting.Hit : known ? SessionRouting.Moved : SessionRouting.New;
    }

    /// <summary>A worker left: its sessions are forgotten, to be placed afresh on their next request.</summary>
    public void RemoveWorker(string instanceId)
    {
        lock (_lock)
        {
            for (var node = _recent.First; node is not null;)
            {
                var next = node.Next;
                if (string.Equals(node.Value.Worker, instanceId, StringComparison.Ordinal))
                {
                    _recent.Remove(node);
                    _sessions.Remove(node.Value.Session);
                }

                node = next;
            }
        }
    }

    // Under _lock.
    private LinkedListNode<Entry>? Live(string sessionId, long now)
    {
        if (!_sessions.TryGetValue(sessionId, out var node))
        {
            return null;
        }

        if (now - node.Value.LastUsed > _ttlTicks)
        {
            _recent.Remove(node);
            _sessions.Remove(sessionId);
            return null;
        }

        return node;
    }

    private sealed class Entry(string session, string worker, long lastUsed)
    {
        public string Session { get; } = session;

        public string Worker { get; set; } = worker;

        public long LastUsed { get; set; } = lastUsed;
    }
}
