using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Dynamo.KvCache;

/// <summary>
/// KV block hashing shared by the gateway, the router and the engines. This is Dynamo's scheme, so traces,
/// events and tools carry over between implementations:
/// <c>block_hash = xxh3_64(seed 1337, [salt ‖] little-endian u32 token ids)</c>,
/// <c>seq_hash[0] = block_hash[0]</c>, <c>seq_hash[i] = xxh3_64(seed 1337, LE u64 seq_hash[i-1] ‖ LE u64 block_hash[i])</c>.
/// Only full blocks are hashed; a trailing partial block has no hash.
/// </summary>
/// <remarks>
/// The salt (a LoRA adapter name as UTF-8, for example) is hashed in front of the token bytes, so the same
/// tokens under two adapters never share KV blocks. Nothing here allocates once warmed up: the router calls it
/// for every request.
/// </remarks>
public static class BlockHasher
{
    /// <summary>The xxh3 seed of Dynamo's scheme.</summary>
    public const long Seed = 1337;

    [ThreadStatic]
    private static XxHash3? t_saltedHasher;

    /// <summary>Hashes one block's tokens (any length; callers pass exactly one full block).</summary>
    public static ulong HashBlock(ReadOnlySpan<int> tokens, ReadOnlySpan<byte> salt = default)
    {
        if (!BitConverter.IsLittleEndian)
        {
            return HashBlockBigEndianHost(tokens, salt);
        }

        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(tokens);
        if (salt.IsEmpty)
        {
            return XxHash3.HashToUInt64(bytes, Seed);
        }

        XxHash3 hasher = t_saltedHasher ??= new XxHash3(Seed);
        hasher.Reset();
        hasher.Append(salt);
        hasher.Append(bytes);
        return hasher.GetCurrentHashAsUInt64();
    }

    /// <summary>The sequence hash of a block: its parent's sequence hash chained with its own block hash.</summary>
    public static ulong ChainHash(ulong parentSeqHash, ulong blockHash)
    {
        Span<byte> buffer = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, parentSeqHash);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[8..], blockHash);
        return XxHash3.HashToUInt64(buffer, Seed);
    }

    /// <summary>Number of full blocks in <paramref name="tokenCount"/> tokens.</summary>
    public static int FullBlockCount(int tokenCount, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        ArgumentOutOfRangeException.ThrowIfNegative(tokenCount);
        return tokenCount / blockSize;
    }

    /// <summary>
    /// Writes the sequence hash (and, when <paramref name="blockHashes"/> is not empty, the block hash) of every
    /// full block of <paramref name="tokens"/>; returns the number of full blocks.
    /// </summary>
    /// <exception cref="ArgumentException">A destination is shorter than the number of full blocks.</exception>
    public static int ComputeSequenceHashes(
        ReadOnlySpan<int> tokens,
        int blockSize,
        Span<ulong> seqHashes,
        Span<ulong> blockHashes = default,
        ReadOnlySpan<byte> salt = default)
    {
        int blocks = FullBlockCount(tokens.Length, blockSize);
        if (seqHashes.Length < blocks)
        {
            throw new ArgumentException($"Needs room for {blocks} sequence hashes, got {seqHashes.Length}.", nameof(seqHashes));
        }

        if (!blockHashes.IsEmpty && blockHashes.Length < blocks)
        {
            throw new ArgumentException($"Needs room for {blocks} block hashes, got {blockHashes.Length}.", nameof(blockHashes));
        }

        HashRange(tokens, blockSize, seqHashes, blockHashes, salt, 0, blocks);
        return blocks;
    }

    /// <summary>
    /// Extends a run of sequence hashes: with <paramref name="seqHashes"/> holding those of the first
    /// <paramref name="from"/> blocks of <paramref name="tokens"/>, writes those of blocks <paramref name="from"/> to
    /// <paramref name="to"/> − 1 (no salt). For callers that hash a prompt only as far as they need.
    /// </summary>
    public static void ExtendSequenceHashes(ReadOnlySpan<int> tokens, int blockSize, Span<ulong> seqHashes, int from, int to)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(from);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(to, Math.Min(seqHashes.Length, FullBlockCount(tokens.Length, blockSize)));
        HashRange(tokens, blockSize, seqHashes, default, default, from, to);
    }

    private static void HashRange(
        ReadOnlySpan<int> tokens,
        int blockSize,
        Span<ulong> seqHashes,
        Span<ulong> blockHashes,
        ReadOnlySpan<byte> salt,
        int from,
        int to)
    {
        ulong parent = from == 0 ? 0 : seqHashes[from - 1];
        for (int i = from; i < to; i++)
        {
            ulong blockHash = HashBlock(tokens.Slice(i * blockSize, blockSize), salt);
            parent = i == 0 ? blockHash : ChainHash(parent, blockHash);
            seqHashes[i] = parent;
            if (!blockHashes.IsEmpty)
            {
                blockHashes[i] = blockHash;
            }
        }
    }

    /// <summary>Allocating convenience over <see cref="ComputeSequenceHashes(ReadOnlySpan{int}, int, Span{ulong}, Span{ulong}, ReadOnlySpan{byte})"/>.</summary>
    public static ulong[] ComputeSequenceHashes(ReadOnlySpan<int> tokens, int blockSize, ReadOnlySpan<byte> salt = default)
    {
        var hashes = new ulong[FullBlockCount(tokens.Length, blockSize)];
        ComputeSequenceHashes(tokens, blockSize, hashes, default, salt);
        return hashes;
    }

    private static ulong HashBlockBigEndianHost(ReadOnlySpan<int> tokens, ReadOnlySpan<byte> salt)
    {
        var hasher = new XxHash3(Seed);
        hasher.Append(salt);
        Span<byte> word = stackalloc byte[4];
        foreach (int token in tokens)
        {
            BinaryPrimitives.WriteInt32LittleEndian(word, token);
            hasher.Append(word);
        }

        return hasher.GetCurrentHashAsUInt64();
    }
}
