namespace Dynamo.Planner.Profiles;

/// <summary>KV cache one worker holds (<c>"kv"</c> in profile.json).</summary>
/// <param name="BlockSize">Tokens per KV block.</param>
/// <param name="BlocksPerWorker">KV blocks in one worker's pool.</param>
public sealed record KvCapacity(int BlockSize, long BlocksPerWorker)
{
    /// <summary>Tokens of KV one worker holds: blocks × block size.</summary>
    public long TokensPerWorker => BlocksPerWorker * BlockSize;
}
