namespace Dynamo.Contracts.Engine;

/// <summary>
/// One generated token of one sequence. <see cref="Finish"/> is set on the last one.
/// <see cref="CachedTokens"/> is the number of prompt tokens served from the prefix cache (same on every output).
/// </summary>
public readonly record struct EngineOutput(int TokenId, FinishReason? Finish, int CachedTokens)
{
    /// <summary>On a prefill request's last output (<see cref="KvTransferRequest.DoRemoteDecode"/>): where its KV waits for the decode worker.</summary>
    public RemoteKvBlocks? KvTransfer { get; init; }

    /// <summary>When the request asked for them (<see cref="EngineRequest.Logprobs"/>): the token's log-probabilities.</summary>
    public TokenLogprobs? Logprobs { get; init; }

    /// <summary>On the first output, when the request asked for them (<see cref="EngineRequest.PromptLogprobs"/>): one entry
    /// per prompt token, null for the first (it has no context), then each token's log-probability given those before it
    /// and the most likely tokens at its position.</summary>
    public TokenLogprobs?[]? PromptLogprobs { get; init; }

    /// <summary>On a prefill request's last output: it asked for a remote decode, and the engine declined to pin (pins hold their share of the pool).</summary>
    public bool KvTransferDeclined { get; init; }
}
