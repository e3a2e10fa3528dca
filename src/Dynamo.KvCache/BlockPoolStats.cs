namespace Dynamo.KvCache;

/// <summary>A consistent snapshot of a <see cref="BlockPool"/>'s counters.</summary>
/// <param name="TotalBlocks">Blocks in the pool.</param>
/// <param name="FreeBlocks">Blocks a new allocation can take: never used plus evictable cached blocks.</param>
/// <param name="EvictableBlocks">Cached blocks no live sequence holds (still matchable until evicted).</param>
/// <param name="UsedBlocks">Blocks held by live sequences (<c>TotalBlocks - FreeBlocks</c>).</param>
/// <param name="CachedBlocks">Blocks registered in the prefix cache, held or not.</param>
/// <param name="ActiveSequences">Sequences currently holding blocks.</param>
/// <param name="PromptTokens">Tokens of every successful allocation since start.</param>
/// <param name="CachedPromptTokens">Of those, tokens served from the prefix cache.</param>
public readonly record struct BlockPoolStats(
    int TotalBlocks,
    int FreeBlocks,
    int EvictableBlocks,
    int UsedBlocks,
    int CachedBlocks,
    int ActiveSequences,
    long PromptTokens,
    long CachedPromptTokens)
{
    /// <summary>Prefix-cache hit rate since start, 0..1.</summary>
    public double HitRate => PromptTokens == 0 ? 0 : (double)CachedPromptTokens / PromptTokens;

    /// <summary>Fraction of the pool held by live sequences, 0..1.</summary>
    public double Usage => TotalBlocks == 0 ? 0 : (double)UsedBlocks / TotalBlocks;
}
