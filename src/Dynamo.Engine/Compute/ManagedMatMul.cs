using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Dynamo.Engine.Compute;

/// <summary>
/// Matrix multiply in managed code: tiles of A rows × B rows spread over threads, a 4×2 register-blocked
/// <see cref="Vector{T}"/> kernel inside. Several times slower than OpenBLAS on large products; on a few rows
/// (decode) it streams the weights once and keeps up with memory bandwidth.
/// </summary>
internal static unsafe class ManagedMatMul
{
    private const int RowTile = 32;
    private const int ColumnTile = 64;

    /// <summary>C[m×n] (+)= A[m×k] · B[n×k]ᵀ; B is streamed once for every 32 rows of A, so small m is bandwidth-bound, not packing-bound.</summary>
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate, ParallelOptions parallelism)
    {
        if (a.Length < (long)m * k || b.Length < (long)n * k || c.Length < (long)m * n)
        {
            throw new ArgumentException($"matmul [{m}×{k}]·[{n}×{k}]ᵀ does not fit spans of {a.Length}, {b.Length}, {c.Length}");
        }

        var rowTiles = (m + RowTile - 1) / RowTile;
        var columnTiles = (n + ColumnTile - 1) / ColumnTile;
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            var aa = (nint)pa;
            var bb = (nint)pb;
            var cc = (nint)pc;
            if ((long)m * n * k < 32_768)
            {
                for (var tile = 0; tile < rowTiles * columnTiles; tile++)
                {
                    Tile(tile, columnTiles, (float*)aa, (float*)bb, (float*)cc, m, n, k, accumulate);
                }

                return;
            }

            Parallel.For(0, rowTiles * columnTiles, parallelism, tile => Tile(tile, columnTiles, (float*)aa, (float*)bb, (float*)cc, m, n, k, accumulate));
        }
    }

    private static void Tile(int tile, int columnTiles, float* a, float* b, float* c, int m, int n, int k, bool accumulate)
    {
        var i0 = tile / columnTiles * RowTile;
        var j0 = tile % columnTiles * ColumnTile;
        var i1 = Math.Min(m, i0 + RowTile);
        var j1 = Math.Min(n, j0 + ColumnTile);
        var i = i0;
        for (; i + 4 <= i1; i += 4)
        {
            var j = j0;
            for (; j + 2 <= j1; j += 2)
            {
                Kernel4x2(a + ((long)i * k), b + ((long)j * k), c + ((long)i * n) + j, n, k, accumulate);
            }

            for (; j < j1; j++)
            {
                for (var r = 0; r < 4; r++)
                {
                    Store(c + ((long)(i + r) * n) + j, Dot(a + ((long)(i + r) * k), b + ((long)j * k), k), accumulate);
                }
            }
        }

        for (; i < i1; i++)
        {
            for (var j = j0; j < j1; j++)
            {
                Store(c + ((long)i * n) + j, Dot(a + ((long)i * k), b + ((long)j * k), k), accumulate);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* target, float value, bool accumulate) => *target = accumulate ? *target + value : value;

    private static float Dot(float* x, float* y, int k) => TensorPrimitives.Dot(new ReadOnlySpan<float>(x, k), new ReadOnlySpan<float>(y, k));

    /// <summary>Four rows of A against two rows of B: eight accumulators, each B vector loaded once for four rows.</summary>
    private static void Kernel4x2(float* a, float* b, float* c, int ldc, int k, bool accumulate)
    {
        var width = Vector<float>.Count;
        Vector<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector<float> c20 = default, c21 = default, c30 = default, c31 = default;
        float* a0 = a, a1 = a + k, a2 = a + (2 * k), a3 = a + (3 * k);
        float* b0 = b, b1 = b + k;
        var p = 0;
        for (; p + width <= k; p += width)
        {
            var vb0 = Unsafe.ReadUnaligned<Vector<float>>(b0 + p);
            var vb1 = Unsafe.ReadUnaligned<Vector<float>>(b1 + p);
            var va = Unsafe.ReadUnaligned<Vector<float>>(a0 + p);
            c00 = Vector.FusedMultiplyAdd(va, vb0, c00);
            c01 = Vector.FusedMultiplyAdd(va, vb1, c01);
            va = Unsafe.ReadUnaligned<Vector<float>>(a1 + p);
            c10 = Vector.FusedMultiplyAdd(va, vb0, c10);
            c11 = Vector.FusedMultiplyAdd(va, vb1, c11);
            va = Unsafe.ReadUnaligned<Vector<float>>(a2 + p);
            c20 = Vector.FusedMultiplyAdd(va, vb0, c20);
            c21 = Vector.FusedMultiplyAdd(va, vb1, c21);
            va = Unsafe.ReadUnaligned<Vector<float>>(a3 + p);
            c30 = Vector.FusedMultiplyAdd(va, vb0, c30);
            c31 = Vector.FusedMultiplyAdd(va, vb1, c31);
        }

        float s00 = Vector.Sum(c00), s01 = Vector.Sum(c01), s10 = Vector.Sum(c10), s11 = Vector.Sum(c11);
        float s20 = Vector.Sum(c20), s21 = Vector.Sum(c21), s30 = Vector.Sum(c30), s31 = Vector.Sum(c31);
        for (; p < k; p++)
        {
            s00 += a0[p] * b0[p];
            s01 += a0[p] * b1[p];
            s10 += a1[p] * b0[p];
            s11 += a1[p] * b1[p];
            s20 += a2[p] * b0[p];
            s21 += a2[p] * b1[p];
            s30 += a3[p] * b0[p];
            s31 += a3[p] * b1[p];
        }

        Store(c, s00, accumulate);
        Store(c + 1, s01, accumulate);
        Store(c + ldc, s10, accumulate);
        Store(c + ldc + 1, s11, accumulate);
        Store(c + (2 * ldc), s20, accumulate);
        Store(c + (2 * ldc) + 1, s21, accumulate);
        Store(c + (3 * ldc), s30, accumulate);
        Store(c + (3 * ldc) + 1, s31, accumulate);
    }
}
