using System.Runtime.InteropServices;

namespace Dynamo.Engine.Compute;

/// <summary>
/// Matrix multiply through OpenBLAS's <c>cblas_sgemm</c> (Debian: <c>apt-get install libopenblas0-pthread</c>).
/// The library is loaded by name at run time, so the engine still starts where it is absent.
/// </summary>
public sealed unsafe class OpenBlasComputeBackend : CpuComputeBackend
{
    public const string LibraryName = "libopenblas.so.0";

    private const int RowMajor = 101;
    private const int NoTrans = 111;
    private const int Trans = 112;

    /// <summary>
    /// Up to this many rows (small decode batches) the managed kernel, which streams the weights once, beats
    /// sgemm, whose packing costs more than the arithmetic it saves on so few rows (see bench/README.md, P6).
    /// </summary>
    internal const int SmallRowLimit = 64;

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private readonly delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemv;

    private OpenBlasComputeBackend(nint library, int threads)
        : base(threads)
    {
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(library, "cblas_sgemm");
        _sgemv = (delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(library, "cblas_sgemv");
        if (NativeLibrary.TryGetExport(library, "openblas_set_num_threads", out var setThreads))
        {
            ((delegate* unmanaged<int, void>)setThreads)(Threads);
        }

        if (NativeLibrary.TryGetExport(library, "openblas_get_config", out var getConfig))
        {
            Configuration = Marshal.PtrToStringAnsi(((delegate* unmanaged<nint>)getConfig)()) ?? string.Empty;
        }
    }

    public override string Name => "openblas";

    /// <summary>OpenBLAS's own description of its build (kernel, threading), for the start-up log.</summary>
    public string Configuration { get; } = string.Empty;

    /// <summary>Loads OpenBLAS; false (and no exception) when the library or <c>cblas_sgemm</c> is missing.</summary>
    public static bool TryCreate(int threads, out OpenBlasComputeBackend? backend)
    {
        backend = null;
        if (!NativeLibrary.TryLoad(LibraryName, out var library))
        {
            return false;
        }

        if (!NativeLibrary.TryGetExport(library, "cblas_sgemm", out _) || !NativeLibrary.TryGetExport(library, "cblas_sgemv", out _))
        {
            NativeLibrary.Free(library);
            return false;
        }

        backend = new OpenBlasComputeBackend(library, threads);
        return true;
    }

    public override void MatMulTransposed(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate = false)
    {
        if (a.Length < (long)m * k || b.Length < (long)n * k || c.Length < (long)m * n)
        {
            throw new ArgumentException($"matmul [{m}×{k}]·[{n}×{k}]ᵀ does not fit spans of {a.Length}, {b.Length}, {c.Length}");
        }

        if (m > 1 && m <= SmallRowLimit)
        {
            ManagedMatMul.Multiply(a, b, c, m, n, k, accumulate, Parallelism);
            return;
        }

        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            if (m == 1)
            {
                // One row (batch-1 decode): sgemv streams the weight matrix once, where sgemm would pack it first.
                _sgemv(RowMajor, NoTrans, n, k, 1f, pb, k, pa, 1, accumulate ? 1f : 0f, pc, 1);
                return;
            }

            _sgemm(RowMajor, NoTrans, Trans, m, n, k, 1f, pa, k, pb, k, accumulate ? 1f : 0f, pc, n);
        }
    }

    /// <summary>Plain sgemm C[m×n] = A[m×k]·B[k×n], for the benchmark's peak-throughput measurement.</summary>
    public void Sgemm(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k)
    {
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            _sgemm(RowMajor, NoTrans, NoTrans, m, n, k, 1f, pa, k, pb, n, 0f, pc, n);
        }
    }

    // The library is never freed: OpenBLAS's thread pool does not survive being unloaded and reloaded.
}
