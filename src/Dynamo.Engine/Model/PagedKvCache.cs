using System.Runtime.InteropServices;

namespace Dynamo.Engine.Model;

/// <summary>
/// The KV cache memory: one contiguous, page-aligned native region holding <see cref="BlockCount"/> blocks.
/// Layout is block-major, <c>[block][layer][K|V][kv_head][slot][head_dim]</c> in fp32, so one block's K and V
/// for every layer is one contiguous range of <see cref="BlockBytes"/> bytes and a run of adjacent block ids
/// is one range: the transfer agent can register <see cref="BaseAddress"/>..+<see cref="ByteLength"/> once and
/// describe blocks by offset. Which block belongs to which sequence is the block pool's business, not this class's.
/// </summary>
public sealed unsafe class PagedKvCache : IDisposable
{
    private float* _base;

    public PagedKvCache(int blockCount, int blockSize, int layers, int kvHeads, int headDim)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        BlockCount = blockCount;
        BlockSize = blockSize;
        Layers = layers;
        KvHeads = kvHeads;
        HeadDim = headDim;
        HeadStride = (long)blockSize * headDim;
        LayerStride = 2L * kvHeads * HeadStride;
        BlockStride = layers * LayerStride;
        ByteLength = BlockStride * blockCount * sizeof(float);
        _base = (float*)NativeMemory.AlignedAlloc((nuint)ByteLength, 4096);
        GC.AddMemoryPressure(ByteLength);
    }

    public int BlockCount { get; }

    public int BlockSize { get; }

    public int Layers { get; }

    public int KvHeads { get; }

    public int HeadDim { get; }

    /// <summary>Floats between one block's K for one KV head and the next head's (block_size × head_dim).</summary>
    public long HeadStride { get; }

    /// <summary>Floats per layer inside a block (K and V of every KV head).</summary>
    public long LayerStride { get; }

    /// <summary>Floats per block.</summary>
    public long BlockStride { get; }

    public long BlockBytes => BlockStride * sizeof(float);

    public long ByteLength { get; }

    public nint BaseAddress => (nint)_base;

    /// <summary>Bytes of K and V per token (all layers), as the pool stores them.</summary>
    public long BytesPerToken => BlockBytes / BlockSize;

    /// <summary>Blocks that fit in <paramref name="bytes"/> for a model with this geometry.</summary>
    public static int BlocksFor(long bytes, int blockSize, int layers, int kvHeads, int headDim) =>
        (int)Math.Min(int.MaxValue, bytes / (2L * layers * kvHeads * headDim * blockSize * sizeof(float)));

    /// <summary>K (or V) of one KV head in one block of one layer: block_size × head_dim floats.</summary>
    public Span<float> HeadSlice(int block, int layer, bool value, int kvHead)
    {
        if ((uint)block >= (uint)BlockCount)
        {
            throw new ArgumentOutOfRangeException(nameof(block), block, $"block id outside 0..{BlockCount - 1}");
        }

        var offset = (block * BlockStride) + (layer * LayerStride) + ((value ? KvHeads : 0) + kvHead) * HeadStride;
        return new Span<float>(_base + offset, (int)HeadStride);
    }

    /// <summary>Pointer form of <see cref="HeadSlice"/> for the attention kernel; the caller keeps the block id in range.</summary>
    internal float* HeadPointer(int block, int layer, bool value, int kvHead) =>
        _base + (block * BlockStride) + (layer * LayerStride) + (((value ? KvHeads : 0) + kvHead) * HeadStride);

    /// <summary>The bytes of one block (every layer, K and V), for copying a block in or out.</summary>
    public Span<byte> BlockBytesSpan(int block)
    {
        if ((uint)block >= (uint)BlockCount)
        {
            throw new ArgumentOutOfRangeException(nameof(block), block, $"block id outside 0..{BlockCount - 1}");
        }

        return new Span<byte>((byte*)(_base + (block * BlockStride)), (int)BlockBytes);
    }

    public void Dispose()
    {
        if (_base != null)
        {
            NativeMemory.AlignedFree(_base);
            _base = null;
            GC.RemoveMemoryPressure(ByteLength);
        }
    }
}
