using Dynamo.Engine.Compute;

namespace Dynamo.Engine;

/// <summary>
/// Settings of the .NET engine (configuration section <c>Dynamo:Engine</c>). The KV pool size is
/// <see cref="NumKvBlocks"/> if set, else <see cref="KvCacheBytes"/> if set, else
/// <see cref="KvCacheMemoryFraction"/> of the memory available to the process.
/// </summary>
public sealed class DotnetEngineOptions
{
    /// <summary>Tokens per KV block. Default 16 (16, 32 and 64 are what the router expects).</summary>
    public int BlockSize { get; set; } = 16;

    /// <summary>Exact number of KV blocks; null (default) sizes the pool from bytes or the memory fraction.</summary>
    public int? NumKvBlocks { get; set; }

    /// <summary>KV pool size in bytes; null (default) uses <see cref="KvCacheMemoryFraction"/>.</summary>
    public long? KvCacheBytes { get; set; }

    /// <summary>Fraction of available memory for the KV pool when neither count nor bytes is set. Default 0.05.</summary>
    public double KvCacheMemoryFraction { get; set; } = 0.05;

    /// <summary>Sequences in the running batch at most. Default 64.</summary>
    public int MaxNumSeqs { get; set; } = 64;

    /// <summary>Tokens (prefill chunks plus decode tokens) per engine step at most. Default 512.</summary>
    public int MaxNumBatchedTokens { get; set; } = 512;

    /// <summary>Compute threads; 0 (default) means one per core.</summary>
    public int Threads { get; set; }

    /// <summary>auto (default: OpenBLAS when installed), openblas or managed.</summary>
    public ComputeBackendKind Backend { get; set; } = ComputeBackendKind.Auto;

    /// <summary>Name in <c>/v1/models</c>; null (default) uses the model folder's name.</summary>
    public string? ServedModelName { get; set; }

    /// <summary>Worker id stamped on KV events. Default "local".</summary>
    public string WorkerId { get; set; } = "local";

    /// <summary>Tokens a request's output may run ahead of its reader before the sequence pauses. Default 64.</summary>
    public int OutputBufferTokens { get; set; } = 64;

    /// <summary>KV events kept for replay to a router that missed some. Default 10000.</summary>
    public int KvEventReplayBufferSize { get; set; } = 10_000;

    /// <summary>Throws with the key and value of the first bad setting.</summary>
    public void Validate()
    {
        Check(BlockSize is >= 1 and <= 1024, nameof(BlockSize), BlockSize, "must be 1..1024");
        Check(NumKvBlocks is null or >= 1, nameof(NumKvBlocks), NumKvBlocks, "must be at least 1");
        Check(KvCacheBytes is null or > 0, nameof(KvCacheBytes), KvCacheBytes, "must be positive");
        Check(KvCacheMemoryFraction is > 0 and <= 0.95, nameof(KvCacheMemoryFraction), KvCacheMemoryFraction, "must be in (0, 0.95]");
        Check(MaxNumSeqs >= 1, nameof(MaxNumSeqs), MaxNumSeqs, "must be at least 1");
        Check(MaxNumBatchedTokens >= 1, nameof(MaxNumBatchedTokens), MaxNumBatchedTokens, "must be at least 1");
        Check(Threads >= 0, nameof(Threads), Threads, "must be 0 (all cores) or more");
        Check(OutputBufferTokens >= 2, nameof(OutputBufferTokens), OutputBufferTokens, "must be at least 2");
        Check(KvEventReplayBufferSize >= 1, nameof(KvEventReplayBufferSize), KvEventReplayBufferSize, "must be at least 1");
        Check(!string.IsNullOrWhiteSpace(WorkerId), nameof(WorkerId), WorkerId, "must not be empty");
    }

    private static void Check(bool ok, string key, object? value, string rule)
    {
        if (!ok)
        {
            throw new ArgumentException($"Dynamo:Engine:{key} = '{value}' {rule}", key);
        }
    }
}
