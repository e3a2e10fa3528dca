namespace Dynamo.Contracts.Engine;

/// <summary>
/// Where a prefill worker keeps a prompt's KV for a decode worker: the transfer agent to read from, the registered
/// region and block ids (block <c>i</c> holds tokens <c>i × BlockSize ..</c>), the geometry both sides must share,
/// and the first token the prefill sampled. Peers find the agent's address and keys through the transfer metadata
/// published in discovery; this carries ids and the transfer token that authorizes the one read.
/// </summary>
public sealed record RemoteKvBlocks
{
    public required string AgentName { get; init; }

    /// <summary>Names the pinned blocks (not secret: it appears in logs); the decode worker sends it back with <see cref="TransferToken"/> so the prefill worker can release them.</summary>
    public required string TransferId { get; init; }

    /// <summary>
    /// The secret (256 bits from a CSPRNG, base64url) the prefill worker issued with the pin: its transfer agent
    /// serves a read of exactly these blocks, once, to a reader presenting it with the digest of the same prompt
    /// tokens (<see cref="PromptDigest"/>), and refuses anything else. Never log it.
    /// </summary>
    public required string TransferToken { get; init; }

    public required int RegionId { get; init; }

    public required int[] BlockIds { get; init; }

    public required int BlockSize { get; init; }

    /// <summary>Bytes per block (every layer's K and V); a decode worker with another model or layout must not read them.</summary>
    public required long BlockBytes { get; init; }

    /// <summary>Prompt tokens whose KV the blocks hold.</summary>
    public required int PromptTokens { get; init; }

    public required int FirstToken { get; init; }

    /// <summary>The first token's log-probabilities, when the request asked for them: the decode worker streams the
    /// first token, so they travel with it.</summary>
    public TokenLogprobs? FirstLogprobs { get; init; }
}
