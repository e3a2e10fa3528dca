namespace Dynamo.Engine.Compute;

/// <summary>The CPU backend with the managed matrix multiply (<see cref="ManagedMatMul"/>): needs nothing installed.</summary>
public sealed class ManagedComputeBackend : CpuComputeBackend
{
    public ManagedComputeBackend(int threads = 0)
        : base(threads)
    {
    }

    public override string Name => "managed";

    public override void MatMulTransposed(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate = false) =>
        ManagedMatMul.Multiply(a, b, c, m, n, k, accumulate, Parallelism);
}
