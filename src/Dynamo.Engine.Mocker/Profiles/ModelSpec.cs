namespace Dynamo.Engine.Mocker.Profiles;

/// <summary>
/// A Llama-class model's shape, for the roofline. <paramref name="DtypeBytes"/> is the weights' (and matmuls') precision:
/// 2 for BF16, 1 for FP8 (weights and activations in FP8, the matmuls at the FP8 tensor-core peak);
/// <paramref name="KvDtypeBytes"/> the KV cache's (0: the same as the weights).
/// </summary>
public sealed record ModelSpec(string Name, double Parameters, int Layers, int Hidden, int Heads, int KvHeads, int HeadDim, int DtypeBytes, int MaxContextLength, int KvDtypeBytes = 0)
{
    /// <summary>
    /// Llama-3.1-8B. Source: meta-llama/Llama-3.1-8B config.json (32 layers, hidden 4096, 32 attention heads, 8 KV heads,
    /// head dim 128, max_position_embeddings 131072) and the model card (8.03 B parameters); BF16 weights.
    /// </summary>
    public static ModelSpec Llama8B { get; } = new("8b", 8.03e9, 32, 4096, 32, 8, 128, 2, 131072);

    /// <summary>
    /// Llama-3.1-70B. Source: meta-llama/Llama-3.1-70B config.json (80 layers, hidden 8192, 64 attention heads, 8 KV heads,
    /// head dim 128, max_position_embeddings 131072) and the model card (70.6 B parameters); BF16 weights.
    /// </summary>
    public static ModelSpec Llama70B { get; } = new("70b", 70.6e9, 80, 8192, 64, 8, 128, 2, 131072);

    /// <summary>KV bytes per token: layers × 2 (K and V) × KV heads × head dim × KV dtype bytes (the design's transfer model).</summary>
    public long KvBytesPerToken => (long)Layers * 2 * KvHeads * HeadDim * (KvDtypeBytes > 0 ? KvDtypeBytes : DtypeBytes);

    /// <summary>
    /// The same model with FP8 weights and activations (e.g. RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic, nvidia/Llama-3.1-8B-Instruct-FP8)
    /// and a BF16 KV cache (vLLM's default <c>--kv-cache-dtype auto</c>), or an FP8 one with <paramref name="kvDtypeBytes"/> 1
    /// (TensorRT-LLM with a ModelOpt checkpoint whose KV is quantized too).
    /// </summary>
    public ModelSpec Fp8(int kvDtypeBytes = 2) => this with { Name = Name + (kvDtypeBytes == 1 ? "-fp8-kv8" : "-fp8"), DtypeBytes = 1, KvDtypeBytes = kvDtypeBytes };

    public double WeightBytes => Parameters * DtypeBytes;
}
