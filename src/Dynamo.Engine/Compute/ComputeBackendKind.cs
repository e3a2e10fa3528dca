namespace Dynamo.Engine.Compute;

public enum ComputeBackendKind
{
    /// <summary>OpenBLAS when <c>libopenblas.so.0</c> loads, otherwise the managed kernels.</summary>
    Auto,

    /// <summary><c>cblas_sgemm</c> from <c>libopenblas.so.0</c>; start-up fails when it does not load.</summary>
    OpenBlas,

    /// <summary>Managed SIMD matrix multiply; slower, needs nothing installed.</summary>
    Managed,
}
