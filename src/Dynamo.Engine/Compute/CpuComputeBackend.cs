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

        var maxContext = 0;
        foreach (var sequence in batch.Sequences)
        {
            maxContext = Math.Max(maxContext, sequence.ContextLength);
        }

        var scale = 1f / MathF.Sqrt(headDim);
        var group = qHeads / kvHeads;
        fixed (float* qkvPointer = qkv)
        fixed (float* outputPointer = output)
        {
            var q = (nint)qkvPointer;
            var o = (nint)outputPointer;

            // One work item per (token, KV head): the query heads that share a KV head read each key and value once.
            Parallel.For(0, tokens * kvHeads, _parallel,
                () => ArrayPool<float>.Shared.Rent(group * maxContext),
                (item, _, scores) =>
                {
                    var t = item / kvHeads;
                    var kvHead = item % kvHeads;
                    var sequence = batch.Sequences[batch.TokenSequence[t]];
                    var context = batch.Positions[t] + 1;
                    fixed (float* scoresPointer = scores)
                    {
                        AttendGroup(cache, layer, sequence.BlockTable, kvHead, group, context,
                            (float*)q + (t * stride) + (kvHead * group * headDim), scale, scoresPointer,
                            (float*)o + (((t * qHeads) + (kvHead * group)) * headDim));
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
    /// Causal attention of <paramref name="group"/> query heads (contiguous at <paramref name="queries"/>) over
    /// the first <paramref name="context"/> positions of one KV head, read block by block through the table.
    /// Vector loops inline rather than a library call per key: at head_dim 64 the call overhead was most of the cost.
    /// </summary>
    private static void AttendGroup(PagedKvCache cache, int layer, int[] blockTable, int kvHead, int group, int context, float* queries,
        float scale, float* scores, float* results)
    {
        var blockSize = cache.BlockSize;
        var headDim = cache.HeadDim;
        var width = Vector<float>.Count;
        var vectorEnd = headDim - (headDim % width);
        for (var start = 0; start < context; start += blockSize)
        {
            var keys = cache.HeadPointer(blockTable[start / blockSize], layer, false, kvHead);
            var count = Math.Min(blockSize, context - start);
            for (var s = 0; s < count; s++)
            {
                var key = keys + (s * headDim);
                for (var g = 0; g < group; g++)
                {
                    var query = queries + (g * headDim);
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

                    scores[(g * context) + start + s] = dot * scale;
                }
            }
        }

        Span<float> sums = stackalloc float[group];
        for (var g = 0; g < group; g++)
        {
            var row = new Span<float>(scores + (g * context), context);
            var max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, row);
            TensorPrimitives.Exp(row, row);
            sums[g] = TensorPrimitives.Sum(row);
        }

        new Span<float>(results, group * headDim).Clear();
        for (var start = 0; start < context; start += blockSize)
        {
            var values = cache.HeadPointer(blockTable[start / blockSize], layer, true, kvHead);
            var count = Math.Min(blockSize, context - start);
            for (var s = 0; s < count; s++)
            {
                var value = values + (s * headDim);
                for (var g = 0; g < group; g++)
                {
                    var weight = scores[(g * context) + start + s];
                    var weights = new Vector<float>(weight);
                    var result = results + (g * headDim);
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

        for (var g = 0; g < group; g++)
        {
            var result = new Span<float>(results + (g * headDim), headDim);
            TensorPrimitives.Divide(result, sums[g], result);
        }
    }
}
