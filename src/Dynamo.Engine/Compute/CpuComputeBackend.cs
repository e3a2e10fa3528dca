using System.Buffers;
using System.Numerics.Tensors;
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
            Parallel.For(0, tokens * qHeads, _parallel,
                () => ArrayPool<float>.Shared.Rent(maxContext),
                (item, _, scores) =>
                {
                    var t = item / qHeads;
                    var h = item % qHeads;
                    var sequence = batch.Sequences[batch.TokenSequence[t]];
                    var context = batch.Positions[t] + 1;
                    var query = new ReadOnlySpan<float>((float*)q + (t * stride) + (h * headDim), headDim);
                    var result = new Span<float>((float*)o + (((t * qHeads) + h) * headDim), headDim);
                    Attend(cache, layer, sequence.BlockTable, h / group, context, query, scale, scores.AsSpan(0, context), result);
                    return scores;
                },
                scores => ArrayPool<float>.Shared.Return(scores));
        }
    }

    public virtual void Dispose()
    {
        GC.SuppressFinalize(this);
    }

    private static void Attend(PagedKvCache cache, int layer, int[] blockTable, int kvHead, int context, ReadOnlySpan<float> query, float scale,
        Span<float> scores, Span<float> result)
    {
        var blockSize = cache.BlockSize;
        var headDim = cache.HeadDim;
        for (var start = 0; start < context; start += blockSize)
        {
            var keys = cache.HeadSlice(blockTable[start / blockSize], layer, false, kvHead);
            var count = Math.Min(blockSize, context - start);
            for (var s = 0; s < count; s++)
            {
                scores[start + s] = TensorPrimitives.Dot(query, keys.Slice(s * headDim, headDim)) * scale;
            }
        }

        var max = TensorPrimitives.Max(scores);
        TensorPrimitives.Subtract(scores, max, scores);
        TensorPrimitives.Exp(scores, scores);
        var sum = TensorPrimitives.Sum(scores);
        result.Clear();
        for (var start = 0; start < context; start += blockSize)
        {
            var values = cache.HeadSlice(blockTable[start / blockSize], layer, true, kvHead);
            var count = Math.Min(blockSize, context - start);
            for (var s = 0; s < count; s++)
            {
                TensorPrimitives.MultiplyAdd(values.Slice(s * headDim, headDim), scores[start + s], result, result);
            }
        }

        TensorPrimitives.Divide(result, sum, result);
    }
}
