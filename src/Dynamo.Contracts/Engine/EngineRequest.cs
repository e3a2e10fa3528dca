namespace Dynamo.Contracts.Engine;

/// <summary>One sequence to generate. The worker splits an OpenAI request with <c>n</c> > 1 into n of these.</summary>
public sealed record EngineRequest
{
    public required string RequestId { get; init; }

    public required int[] PromptTokens { get; init; }

    /// <summary>Tokens to generate at most.</summary>
    public required int MaxTokens { get; init; }

    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>Keep generating past the model's end-of-sequence tokens.</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>Extra token ids that end the sequence (the token itself is emitted, finish reason stop).</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];

    /// <summary>
    /// Structured output: only tokens the constraint allows are sampled, and the sequence ends (finish reason stop)
    /// once it is complete. Its own instance per sequence; null: unconstrained.
    /// </summary>
    public ITokenConstraint? Constraint { get; init; }

    /// <summary>
    /// Report each generated token's log-probability and those of the <see cref="Logprobs"/> most likely tokens
    /// (0..20) on its <see cref="EngineOutput.Logprobs"/>; null: report none (and pay nothing for them).
    /// </summary>
    public int? Logprobs { get; init; }

    /// <summary>
    /// Scheduling priority (<c>nvext.priority</c>, -100..100, higher first; default 0): the engine's waiting queue is
    /// ordered by it, then by arrival. Running sequences are not preempted for it.
    /// </summary>
    public int Priority { get; init; }

    /// <summary>
    /// Report the prompt's own log-probabilities on the first output's <see cref="EngineOutput.PromptLogprobs"/>: for
    /// each prompt token after the first, log P(token | the tokens before it) and the <see cref="PromptLogprobs"/>
    /// (0..20) most likely tokens at that position, from the model's raw scores (no penalties, temperature or
    /// truncation: those shape sampling, not the prompt). Null: none. The prompt is then computed whole, not read from
    /// the prefix cache or a remote prefill (those skip the positions whose scores are asked for).
    /// </summary>
    public int? PromptLogprobs { get; init; }

    /// <summary>Disaggregated serving: keep the prompt's KV for a remote decode, or read it from a remote prefill. Null: neither.</summary>
    public KvTransferRequest? KvTransfer { get; init; }
}
