using System.Runtime.CompilerServices;
using Dynamo.KvCache;

namespace Dynamo.Router.Indexing;

/// <summary>A prompt's sequence hashes as <see cref="BlockTable.MatchPrefix"/> reads them: in order, each once or twice.</summary>
internal interface IHashSource
{
    /// <summary>Full blocks in the prompt.</summary>
    int Length { get; }

    /// <summary>The sequence hash of block <paramref name="i"/>; called with increasing indices (repeats allowed).</summary>
    ulong Get(int i);
}

/// <summary>Hashes computed beforehand.</summary>
internal readonly ref struct ComputedHashes(ReadOnlySpan<ulong> hashes) : IHashSource
{
    private readonly ReadOnlySpan<ulong> _hashes = hashes;

    public int Length => _hashes.Length;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Get(int i) => _hashes[i];
}

/// <summary>
/// Hashes computed as the match asks for them, so a walk that stops at block k hashes at most about 2k blocks (at
/// least 64) instead of the whole prompt. Each hash is written to the output span, which afterwards holds the first
/// <see cref="Computed"/> of them. (Hashing one block per probe, interleaved, measured slower than batches: the
/// 1,000-worker replay's long prompts took 20 % longer.)
/// </summary>
internal ref struct LazyHashes(ReadOnlySpan<int> tokens, int blockSize, Span<ulong> output) : IHashSource
{
    private const int FirstBatch = 64;

    private readonly ReadOnlySpan<int> _tokens = tokens;
    private readonly int _blockSize = blockSize;
    private readonly Span<ulong> _output = output;

    public readonly int Length { get; } = BlockHasher.FullBlockCount(tokens.Length, blockSize);

    /// <summary>How many leading hashes are in the output span.</summary>
    public int Computed { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Get(int i)
    {
        if (i >= Computed)
        {
            HashAhead(i);
        }

        return _output[i];
    }

    /// <summary>
    /// Hashes in doubling batches (at least <see cref="FirstBatch"/> blocks) up to and past block <paramref name="i"/>:
    /// a tight hashing loop, and at most twice the blocks the walk needed.
    /// </summary>
    private void HashAhead(int i)
    {
        var end = Math.Min(Length, Math.Max(i + 1, Computed + Math.Max(FirstBatch, Computed)));
        BlockHasher.ExtendSequenceHashes(_tokens, _blockSize, _output, Computed, end);
        Computed = end;
    }
}
