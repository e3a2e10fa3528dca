namespace Dynamo.Engine.Model;

/// <summary>
/// One decoder layer's weights as pinned fp32 arrays. q/k/v are fused into one [q+k+v, hidden] matrix and
/// gate/up into one [2·intermediate, hidden] matrix, so each is a single matrix multiply per step.
/// </summary>
internal sealed class LlamaLayerWeights
{
    public required float[] InputNorm { get; init; }

    public required float[] Qkv { get; init; }

    public float[]? QkvBias { get; init; }

    public required float[] Output { get; init; }

    public float[]? OutputBias { get; init; }

    public required float[] PostAttentionNorm { get; init; }

    public required float[] GateUp { get; init; }

    public required float[] Down { get; init; }
}
