namespace Dynamo.Contracts.Engine;

/// <summary>
/// Where a prefill worker keeps a prompt's KV for a decode worker: the transfer agent to read from, the registered
/// region and block ids (block <c>i</c> holds tokens <c>i × BlockSize ..</c>), the geometry both sides must share,
/// and the first token the prefill sampled. Peers find the agent's address and keys through the transfer metadata
/// published in discovery; this carries only ids.
/// </summary>
public sealed record RemoteKvBlocks
{
    public required string AgentName { get; init; }

    /// <summary>Names the pinned blocks; the decode worker sends it back so the prefill worker can release them.</summary>
    public required string TransferId { get; init; }

    public required int RegionId { get; init; }

    public required int[] BlockIds { get; init; }

    public required int BlockSize { get; init; }

    /// <summary>Bytes per block (every layer's K and V); a decode worker with another model or layout must not read them.</summary>
    public required long BlockBytes { get; init; }

    /// <summary>Prompt tokens whose KV the blocks hold.</summary>
    public required int PromptTokens { get; init; }

    public required int FirstToken { get; init; }
}
