using Dynamo.Contracts.Engine;

namespace Dynamo.Engine.Sampling;

/// <summary>One sequence's sampler state: its own generator (so a seeded request samples the same tokens whatever it is batched with) and its output-token counts for the penalties.</summary>
internal sealed class SamplingState
{
    private SplitMix64 _random;

    public SamplingState(SamplingOptions options)
    {
        Options = options;
        _random = new SplitMix64(options.Seed ?? (ulong)Random.Shared.NextInt64());
    }

    public SamplingOptions Options { get; }

    /// <summary>How often each token has been generated (prompt tokens are not counted, as in OpenAI and vLLM).</summary>
    public Dictionary<int, int> OutputCounts { get; } = [];

    public double NextDouble() => _random.NextDouble();

    public void Record(int token) => OutputCounts[token] = OutputCounts.GetValueOrDefault(token) + 1;
}
