using System.Text;
using System.Text.Json;

namespace Dynamo.KvCache.Tests;

public sealed class BlockHasherTests
{
    public static TheoryData<string> VectorNames()
    {
        var data = new TheoryData<string>();
        foreach (JsonElement c in LoadVectors().GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("name").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void ComputeSequenceHashes_MatchesCheckedInVectors(string name)
    {
        JsonElement c = LoadVectors().GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        int blockSize = c.GetProperty("block_size").GetInt32();
        int[] tokens = c.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        string? saltText = c.GetProperty("salt").GetString();
        byte[] salt = saltText is null ? [] : Encoding.UTF8.GetBytes(saltText);
        ulong[] expectedBlock = c.GetProperty("block_hashes").EnumerateArray().Select(h => ulong.Parse(h.GetString()!)).ToArray();
        ulong[] expectedSeq = c.GetProperty("seq_hashes").EnumerateArray().Select(h => ulong.Parse(h.GetString()!)).ToArray();

        var seq = new ulong[expectedSeq.Length + 2];
        var block = new ulong[expectedSeq.Length + 2];
        int count = BlockHasher.ComputeSequenceHashes(tokens, blockSize, seq, block, salt);

        Assert.Equal(expectedSeq.Length, count);
        Assert.Equal(expectedSeq, seq[..count]);
        Assert.Equal(expectedBlock, block[..count]);
        Assert.Equal(expectedSeq, BlockHasher.ComputeSequenceHashes(tokens, blockSize, salt));
    }

    [Fact]
    public void SeqHash_IsChainOfBlockHashes()
    {
        int[] tokens = Enumerable.Range(0, 48).ToArray();
        ulong b0 = BlockHasher.HashBlock(tokens.AsSpan(0, 16));
        ulong b1 = BlockHasher.HashBlock(tokens.AsSpan(16, 16));
        ulong b2 = BlockHasher.HashBlock(tokens.AsSpan(32, 16));

        ulong[] seq = BlockHasher.ComputeSequenceHashes(tokens, 16);

        Assert.Equal([b0, BlockHasher.ChainHash(b0, b1), BlockHasher.ChainHash(BlockHasher.ChainHash(b0, b1), b2)], seq);
    }

    [Fact]
    public void ExtendSequenceHashes_InPieces_EqualsHashingAtOnce()
    {
        int[] tokens = [.. Enumerable.Range(0, 16 * 10 + 3).Select(i => (i * 7919) % 50_000)];
        ulong[] whole = BlockHasher.ComputeSequenceHashes(tokens, 16);
        var pieces = new ulong[whole.Length];
        BlockHasher.ExtendSequenceHashes(tokens, 16, pieces, 0, 1);
        BlockHasher.ExtendSequenceHashes(tokens, 16, pieces, 1, 4);
        BlockHasher.ExtendSequenceHashes(tokens, 16, pieces, 4, 10);

        Assert.Equal(whole, pieces);
        Assert.Throws<ArgumentOutOfRangeException>(() => BlockHasher.ExtendSequenceHashes(tokens, 16, pieces, 4, 11));
    }

    [Fact]
    public void HashBlock_WithSalt_DiffersFromUnsalted()
    {
        int[] tokens = Enumerable.Range(0, 16).ToArray();

        Assert.NotEqual(BlockHasher.HashBlock(tokens), BlockHasher.HashBlock(tokens, "lora-a"u8));
        Assert.NotEqual(BlockHasher.HashBlock(tokens, "lora-a"u8), BlockHasher.HashBlock(tokens, "lora-b"u8));
    }

    [Fact]
    public void ComputeSequenceHashes_DestinationTooShort_Throws()
    {
        int[] tokens = Enumerable.Range(0, 64).ToArray();

        Assert.Throws<ArgumentException>(() => BlockHasher.ComputeSequenceHashes(tokens, 16, new ulong[3]));
        Assert.Throws<ArgumentException>(() => BlockHasher.ComputeSequenceHashes(tokens, 16, new ulong[4], new ulong[2]));
    }

    [Fact]
    public void ComputeSequenceHashes_Warm_DoesNotAllocate()
    {
        int[] tokens = Enumerable.Range(0, 256).ToArray();
        var seq = new ulong[16];
        var block = new ulong[16];
        byte[] salt = "adapter"u8.ToArray();
        BlockHasher.ComputeSequenceHashes(tokens, 16, seq, block, salt);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            BlockHasher.ComputeSequenceHashes(tokens, 16, seq, block);
            BlockHasher.ComputeSequenceHashes(tokens, 16, seq, block, salt);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static JsonElement LoadVectors()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "TestData", "block_hash_vectors.json");
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.Clone();
    }
}
