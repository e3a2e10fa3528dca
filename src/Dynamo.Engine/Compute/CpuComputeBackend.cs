using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Dynamo.Engine.Model;

namespace Dynamo.Engine.Compute;

/// <summary>
/// The element-wise and attention operations on the CPU with <see cref="TensorPrimitives"/>; subclasses
/// supply the matrix multiply.
/// </summary>
public abstract unsafe class CpuComputeBackend : IComputeBackend
{
    /// <summary>Tokens of one sequence whose attention is computed together, sharing each key and value load.</summary>
    private const int QueryTile = 16;

    private readonly ParallelOptions _parallel;

    protected CpuComputeBackend(int threads)
    {
        Threads = threads > 0 ? threads : Environment.ProcessorCount;
        _parallel = new ParallelOptions { MaxDegreeOfParallelism = Threads };
    }

    public abstract string Name { get; }

    public int Threads { get; }

    protected ParallelOptions Parallelism => _parallel;

    public abstract void MatMulTransposed(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate = false);

    public void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int rows, int dim, float eps)
    {
        for (var r = 0; r < rows; r++)
        {
            var row = x.Slice(r * dim, dim);
            var output = y.Slice(r * dim, dim);
            var meanSquare = TensorPrimitives.SumOfSquares(row) / dim;
            var scale = 1f / MathF.Sqrt(meanSquare + eps);
            TensorPrimitives.Multiply(row, scale, output);
            TensorPrimitives.Multiply(output, weight, output);
        }
    }

    public void AddBias(Span<float> x, ReadOnlySpan<float> bias, int rows, int dim)
    {
        for (var r = 0; r < rows; r++)
        {
            var row = x.Slice(r * dim, dim);
            TensorPrimitives.Add(row, bias, row);
        }
    }

    public void SiluMul(ReadOnlySpan<float> gateUp, Span<float> output, int rows, int intermediate)
    {
        for (var r = 0; r < rows; r++)
        {
            var gate = gateUp.Slice(r * 2 * intermediate, intermediate);
            var up = gateUp.Slice((r * 2 * intermediate) + intermediate, intermediate);
            var result = output.Slice(r * intermediate, intermediate);
            TensorPrimitives.Sigmoid(gate, result);
            TensorPrimitives.Multiply(result, gate, result);
            TensorPrimitives.Multiply(result, up, result);
        }
    }

    public void ApplyRope(Span<float> qkv, ReadOnlySpan<int> positions, RopeTable rope, int qHeads, int kvHeads, int headDim)
    {
        var stride = (qHeads + (2 * kvHeads)) * headDim;
        var half = headDim / 2;
        for (var t = 0; t < positions.Length; t++)
        {
            var cos = rope.Cos.AsSpan(positions[t] * half, half);
            var sin = rope.Sin.AsSpan(positions[t] * half, half);
            var row = qkv.Slice(t * stride, (qHeads + kvHeads) * headDim);
            for (var h = 0; h < qHeads + kvHeads; h++)
            {
                var head = row.Slice(h * headDim, headDim);
                for (var i = 0; i < half; i++)
                {
                    var x1 = head[i];
                    var x2 = head[i + half];
                    head[i] = (x1 * cos[i]) - (x2 * sin[i]);
                    head[i + half] = (x2 * cos[i]) + (x1 * sin[i]);
                }
            }
        }
    }

    public void PagedAttention(ForwardBatch batch, ReadOnlySpan<float> qkv, PagedKvCache cache, int layer, int qHeads, Span<float> output)
    {
        var headDim = cache.HeadDim;
        var kvHeads = cache.KvHeads;
        var blockSize = cache.BlockSize;
        var stride = (qHeads + (2 * kvHeads)) * headDim;
        var positions = batch.Positions;
        var tokenSequence = batch.TokenSequence;
        var tokens = batch.TokenCount;

        // Every token's K/V goes into the cache first: a token attends to earlier tokens of the same step.
        for (var t = 0; t < tokens; t++)
        {
            var sequence = batch.Sequences[tokenSequence[t]];
            var position = positions[t];
            var block = sequence.BlockTable[position / blockSize];
            var slot = position % blockSize;
            for (var h = 0; h < kvHeads; h++)
            {
                qkv.Slice((t * stride) + ((qHeads + h) * headDim), headDim).CopyTo(cache.HeadSlice(block, layer, false, h).Slice(slot * headDim, headDim));
                qkv.Slice((t * stride) + ((qHeads + kvHeads + h) * headDim), headDim).CopyTo(cache.HeadSlice(block, layer, true, h).Slice(slot * headDim, headDim));
            }
        }

        // Work items: (tile of up to QueryTile consecutive tokens of one sequence, KV head). Each key and value
        // is loaded once for every query of the tile and every query head sharing the KV head.
        var tiles = new List<(int Sequence, int FirstToken, int Count)>();
        var maxContext = 0;
        for (var i = 0; i < batch.Sequences.Count; i++)
        {
            var sequence = batch.Sequences[i];
            maxContext = Math.Max(maxContext, sequence.ContextLength);
            for (var first = 0; first < sequence.TokenCount; first += QueryTile)
            {
                tiles.Add((i, sequence.FirstToken + first, Math.Min(QueryTile, sequence.TokenCount - first)));
            }
        }

        var scale = 1f / MathF.Sqrt(headDim);
        var group = qHeads / kvHeads;
        var scratch = Math.Min(QueryTile, tokens) * group * maxContext;
        fixed (float* qkvPointer = qkv)
        fixed (float* outputPointer = output)
        {
            var q = (nint)qkvPointer;
            var o = (nint)outputPointer;
            Parallel.For(0, tiles.Count * kvHeads, _parallel,
                () => ArrayPool<float>.Shared.Rent(scratch),
                (item, _, scores) =>
                {
                    var (sequenceIndex, firstToken, count) = tiles[item / kvHeads];
                    var kvHead = item % kvHeads;
                    var sequence = batch.Sequences[sequenceIndex];
                    fixed (float* scoresPointer = scores)
                    {
                        AttendTile(cache, layer, sequence.BlockTable, kvHead, group, batch.Positions[firstToken], count,
                            (float*)q + (firstToken * stride) + (kvHead * group * headDim), stride,
                            (float*)o + (((firstToken * qHeads) + (kvHead * group)) * headDim), qHeads * headDim,
                            scale, scoresPointer);
                    }

                    return scores;
                },
                scores => ArrayPool<float>.Shared.Return(scores));
        }
    }

    public virtual void Dispose()
    {
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// Causal attention for <paramref name="count"/> consecutive tokens of one sequence (positions from
    /// <paramref name="firstPosition"/>) and the <paramref name="group"/> query heads of one KV head, reading
    /// K and V block by block through the table. Row r = token i × group + g; token i sees positions
    /// 0..firstPosition+i. Vector loops inline: at head_dim 64 a library call per key cost more than the math.
    /// </summary>
    private static void AttendTile(PagedKvCache cache, int layer, int[] blockTable, int kvHead, int group, int firstPosition, int count,
        float* queries, int queryStride, float* results, int resultStride, float scale, float* scores)
    {
        var blockSize = cache.BlockSize;
        var headDim = cache.HeadDim;
        var width = Vector<float>.Count;
        var vectorEnd = headDim - (headDim % width);
        var context = firstPosition + count;
        for (var start = 0; start < context; start += blockSize)
        {
            var keys = cache.HeadPointer(blockTable[start / blockSize], layer, false, kvHead);
            var inBlock = Math.Min(blockSize, context - start);
            for (var s = 0; s < inBlock; s++)
            {
                var position = start + s;
                var key = keys + (s * headDim);
                for (var i = Math.Max(0, position - firstPosition); i < count; i++)
                {
                    for (var g = 0; g < group; g++)
                    {
                        var query = queries + (i * queryStride) + (g * headDim);
                        var sum = Vector<float>.Zero;
                        var d = 0;
                        for (; d < vectorEnd; d += width)
                        {
                            sum = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(query + d), Unsafe.ReadUnaligned<Vector<float>>(key + d), sum);
                        }

                        var dot = Vector.Sum(sum);
                        for (; d < headDim; d++)
                        {
                            dot += query[d] * key[d];
                        }

                        scores[(((i * group) + g) * context) + position] = dot * scale;
                    }
                }
            }
        }

        var rows = count * group;
        var sums = ArrayPool<float>.Shared.Rent(rows);
        for (var r = 0; r < rows; r++)
        {
            var row = new Span<float>(scores + (r * context), firstPosition + (r / group) + 1);
            var max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, row);
            TensorPrimitives.Exp(row, row);
            sums[r] = TensorPrimitives.Sum(row);
            new Span<float>(results + ((r / group) * resultStride) + ((r % group) * headDim), headDim).Clear();
        }

        for (var start = 0; start < context; start += blockSize)
        {
            var values = cache.HeadPointer(blockTable[start / blockSize], layer, true, kvHead);
            var inBlock = Math.Min(blockSize, context - start);
            for (var s = 0; s < inBlock; s++)
            {
                var position = start + s;
                var value = values + (s * headDim);
                for (var i = Math.Max(0, position - firstPosition); i < count; i++)
                {
                    for (var g = 0; g < group; g++)
                    {
                        var weight = scores[(((i * group) + g) * context) + position];
                        var weights = new Vector<float>(weight);
                        var result = results + (i * resultStride) + (g * headDim);
                        var d = 0;
                        for (; d < vectorEnd; d += width)
                        {
                            Unsafe.WriteUnaligned(result + d, Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(value + d), weights, Unsafe.ReadUnaligned<Vector<float>>(result + d)));
                        }

                        for (; d < headDim; d++)
                        {
                            result[d] += value[d] * weight;
                        }
                    }
                }
            }
        }

        for (var r = 0; r < rows; r++)
        {
            var result = new Span<float>(results + ((r / group) * resultStride) + ((r % group) * headDim), headDim);
            TensorPrimitives.Divide(result, sums[r], result);
        }

        ArrayPool<float>.Shared.Return(sums);
    }
}
