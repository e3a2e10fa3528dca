namespace Dynamo.Contracts.Engine;

/// <summary>How the next token is chosen. Defaults are OpenAI's.</summary>
public sealed record SamplingOptions
{
    /// <summary>0 means greedy.</summary>
    public float Temperature { get; init; } = 1f;

    public float TopP { get; init; } = 1f;

    /// <summary>0 or less disables top-k.</summary>
    public int TopK { get; init; }

    /// <summary>Seed for the sampler; null means a fresh random seed per request.</summary>
    public ulong? Seed { get; init; }

    public float PresencePenalty { get; init; }

    public float FrequencyPenalty { get; init; }

    public bool IsGreedy => Temperature <= 0f || TopK == 1;
}
