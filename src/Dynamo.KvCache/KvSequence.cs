using System.Runtime.InteropServices;

namespace Dynamo.KvCache;

/// <summary>
/// One sequence's view of a <see cref="BlockPool"/>: its tokens' block hashes and, while allocated, its block
/// table (block <c>i</c> of the table holds the KV of tokens <c>i*BlockSize .. (i+1)*BlockSize-1</c>).
/// </summary>
/// <remarks>
/// Created by <see cref="BlockPool.CreateSequence"/>; changed only through the pool. A released sequence keeps
/// its tokens' hashes and can be allocated again, which is how a preempted sequence resumes. Not thread-safe:
/// one thread (the engine's scheduler) owns a sequence.
/// </remarks>
public sealed class KvSequence
{
    private readonly List<int> _blocks = [];
    private readonly List<ulong> _seqHashes;
    private readonly List<ulong> _blockHashes;
    private readonly int[] _tail;

    internal KvSequence(BlockPool pool, ReadOnlySpan<int> tokens, ReadOnlySpan<byte> salt)
    {
        Pool = pool;
        int blockSize = pool.BlockSize;
        Salt = salt.IsEmpty ? null : salt.ToArray();
        int fullBlocks = tokens.Length / blockSize;
        _seqHashes = new List<ulong>(fullBlocks + 4);
        _blockHashes = new List<ulong>(fullBlocks + 4);
        CollectionsMarshal.SetCount(_seqHashes, fullBlocks);
        CollectionsMarshal.SetCount(_blockHashes, fullBlocks);
        BlockHasher.ComputeSequenceHashes(tokens, blockSize, CollectionsMarshal.AsSpan(_seqHashes), CollectionsMarshal.AsSpan(_blockHashes), Salt);
        _tail = new int[blockSize];
        tokens[(fullBlocks * blockSize)..].CopyTo(_tail);
        TokenCount = tokens.Length;
    }

    internal BlockPool Pool { get; }

    internal byte[]? Salt { get; }

    internal List<int> BlockList => _blocks;

    internal List<ulong> SeqHashList => _seqHashes;

    internal List<ulong> BlockHashList => _blockHashes;

    internal int[] Tail => _tail;

    /// <summary>Full blocks already considered for the prefix cache (registered, found cached, or duplicates).</summary>
    internal int RegisteredUpTo { get; set; }

    /// <summary>Tokens in the sequence: prompt plus appended tokens.</summary>
    public int TokenCount { get; internal set; }

    /// <summary>Leading tokens whose KV is computed (cached at allocation, or reported by <see cref="BlockPool.MarkComputed"/>).</summary>
    public int ComputedTokens { get; internal set; }

    /// <summary>Leading tokens found in the prefix cache at the last allocation (a multiple of the block size).</summary>
    public int CachedTokens { get; internal set; }

    /// <summary>Whether the sequence holds blocks.</summary>
    public bool IsAllocated { get; internal set; }

    /// <summary>Tokens per block.</summary>
    public int BlockSize => _tail.Length;

    /// <summary>Block ids, in token order. Empty while not allocated.</summary>
    public IReadOnlyList<int> BlockTable => _blocks;

    /// <summary>Block ids as a span, for the engine's hot path. Valid until the sequence next changes.</summary>
    public ReadOnlySpan<int> Blocks => CollectionsMarshal.AsSpan(_blocks);

    /// <summary>Sequence hashes of the full blocks, in order (the router's and the events' identifiers).</summary>
    public IReadOnlyList<ulong> SequenceHashes => _seqHashes;
}
