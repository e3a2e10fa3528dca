using Dynamo.Bench.Workload;

namespace Dynamo.Bench.Replay;

/// <summary>
/// The prefix hit rate one cluster-wide LRU cache would reach on a request sequence (the replay's
/// <c>cluster_lru_hit_rate</c>, <c>bench/p4_cache_bounds.py</c>'s <c>global</c> bound): blocks of
/// <see cref="PromptSynthesizer.TraceBlockTokens"/> tokens (the requests' hash ids), capacity the cluster's KV in such
/// blocks (each worker's <c>blocks × block size ÷ 512</c>, rounded down, times the workers); a request hits its
/// leading blocks that are cached (at most its prompt's length in tokens), then its whole prompt is inserted, its
/// blocks in prompt order, as the most recently used, and the least recently used blocks beyond the capacity are
/// evicted. No timing, no load: what placement alone would allow if the cluster were one cache.
/// </summary>
public sealed class ClusterLruBaseline
{
    private readonly long _capacity;
    private readonly Dictionary<long, LinkedListNode<long>> _blocks = [];
    private readonly LinkedList<long> _recency = new(); // first: least recently used
    private long _hitTokens;
    private long _promptTokens;

    /// <param name="capacityBlocks">Blocks of 512 tokens the cache holds.</param>
    public ClusterLruBaseline(long capacityBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityBlocks);
        _capacity = capacityBlocks;
    }

    /// <summary>The capacity of <paramref name="workers"/> workers of <paramref name="kvBlocks"/> blocks of <paramref name="blockSize"/> tokens, in 512-token blocks.</summary>
    public static long Capacity(int workers, int kvBlocks, int blockSize) =>
        (long)kvBlocks * blockSize / PromptSynthesizer.TraceBlockTokens * workers;

    /// <summary>Cached ÷ prompt tokens so far; null before any request.</summary>
    public double? HitRate => _promptTokens == 0 ? null : (double)_hitTokens / _promptTokens;

    /// <summary>Counts the request's hit and inserts its prompt; returns the tokens it hit.</summary>
    public long Add(IReadOnlyList<long> hashIds, int inputLength)
    {
        ArgumentNullException.ThrowIfNull(hashIds);
        int held = 0;
        while (held < hashIds.Count && _blocks.ContainsKey(hashIds[held]))
        {
            held++;
        }

        long hit = Math.Min((long)held * PromptSynthesizer.TraceBlockTokens, inputLength);
        _hitTokens += hit;
        _promptTokens += inputLength;
        foreach (long id in hashIds)
        {
            if (_blocks.TryGetValue(id, out LinkedListNode<long>? node))
            {
                _recency.Remove(node);
                _recency.AddLast(node);
            }
            else
            {
                _blocks[id] = _recency.AddLast(id);
            }
        }

        while (_blocks.Count > _capacity)
        {
            _blocks.Remove(_recency.First!.Value);
            _recency.RemoveFirst();
        }

        return hit;
    }
}
