namespace Dynamo.Contracts.Engine;

/// <summary>
/// A request's part in disaggregated serving (the engine side of OpenAI's <c>kv_transfer_params</c>): a prefill
/// request keeps its prompt's KV for a remote decode worker; a decode request reads the prompt's KV from a prefill
/// worker instead of computing it.
/// </summary>
public sealed record KvTransferRequest
{
    /// <summary>Prefill: compute the prompt, return the first token and <see cref="EngineOutput.KvTransfer"/>, and keep the blocks until the decode worker has read them.</summary>
    public bool DoRemoteDecode { get; init; }

    /// <summary>Decode: where the prompt's KV is. When reading it fails the engine computes the prompt itself.</summary>
    public RemoteKvBlocks? RemotePrefill { get; init; }
}
