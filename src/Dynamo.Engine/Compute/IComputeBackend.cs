using Dynamo.Engine.Model;

namespace Dynamo.Engine.Compute;

/// <summary>
/// The operations of a Llama forward step. The CPU backends work on host memory; a GPU backend (cuBLAS, or
/// ONNX Runtime's CUDA provider) would implement the same operations on device buffers, with
/// <see cref="PagedKvCache"/> in device memory. All matrices are row-major fp32.
/// </summary>
public interface IComputeBackend : IDisposable
{
    /// <summary>"openblas" or "managed", for logs and benchmarks.</summary>
    string Name { get; }

    /// <summary>Threads the backend uses for its own parallel work.</summary>
    int Threads { get; }

    /// <summary>
    /// C[m×n] = A[m×k] · B[n×k]ᵀ (+ C when <paramref name="accumulate"/>). B is a weight in Hugging Face
    /// layout [out_features, in_features], so this is <c>x @ W.T</c>.
    /// </summary>
    void MatMulTransposed(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate = false);

    /// <summary>y = x / sqrt(mean(x²) + eps) * weight, per row of <paramref name="dim"/> floats.</summary>
    void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int rows, int dim, float eps);

    /// <summary>Adds <paramref name="bias"/> (length <paramref name="dim"/>) to each row of <paramref name="x"/>.</summary>
    void AddBias(Span<float> x, ReadOnlySpan<float> bias, int rows, int dim);

    /// <summary>For rows of [gate(I) | up(I)]: output row = silu(gate) * up.</summary>
    void SiluMul(ReadOnlySpan<float> gateUp, Span<float> output, int rows, int intermediate);

    /// <summary>
    /// Rotary embeddings (Hugging Face rotate-half convention) applied in place to q and k in each row of
    /// <paramref name="qkv"/> ([q heads | k heads | v heads]) at the row's position.
    /// </summary>
    void ApplyRope(Span<float> qkv, ReadOnlySpan<int> positions, RopeTable rope, int qHeads, int kvHeads, int headDim);

    /// <summary>
    /// Writes each token's K and V (from <paramref name="qkv"/>) into its slot of the cache for
    /// <paramref name="layer"/>, then computes causal attention of each token's q over its sequence's
    /// context read through the block table. <paramref name="output"/> is [tokens × q_heads·head_dim].
    /// </summary>
    void PagedAttention(ForwardBatch batch, ReadOnlySpan<float> qkv, PagedKvCache cache, int layer, int qHeads, Span<float> output);
}
