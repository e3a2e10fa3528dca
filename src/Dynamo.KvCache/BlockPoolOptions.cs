using Dynamo.Contracts.KvEvents;

namespace Dynamo.KvCache;

/// <summary>Shape of a <see cref="BlockPool"/>. Bound from <c>Dynamo:KvCache</c> where a host configures it.</summary>
public sealed class BlockPoolOptions
{
    /// <summary>Tokens per block. Default 16 (Dynamo's and vLLM's); 16, 32 and 64 are what the router expects.</summary>
    public int BlockSize { get; set; } = 16;

    /// <summary>Blocks in the pool (ids 0..TotalBlocks-1). Default 16384 (256K tokens at block size 16).</summary>
    public int TotalBlocks { get; set; } = 16384;

    /// <summary>Worker id stamped on every KV event. Default "local".</summary>
    public string WorkerId { get; set; } = "local";

    /// <summary>Storage tier stamped on every KV event. Default <see cref="StorageTier.Device"/>.</summary>
    public StorageTier Tier { get; set; } = StorageTier.Device;

    /// <summary>
    /// Events kept for replay to a router that missed some. Default 10,000; 0 keeps none (a router that
    /// misses events then needs a full dump).
    /// </summary>
    public int ReplayBufferSize { get; set; } = 10_000;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting and its value.</summary>
    public void Validate()
    {
        if (BlockSize is < 1 or > 1024)
        {
            throw new ArgumentException($"Dynamo:KvCache:BlockSize must be between 1 and 1024 (got {BlockSize}).");
        }

        if (TotalBlocks < 1)
        {
            throw new ArgumentException($"Dynamo:KvCache:TotalBlocks must be at least 1 (got {TotalBlocks}).");
        }

        if (string.IsNullOrWhiteSpace(WorkerId))
        {
            throw new ArgumentException($"Dynamo:KvCache:WorkerId must not be empty (got '{WorkerId}').");
        }

        if (!Enum.IsDefined(Tier))
        {
            throw new ArgumentException($"Dynamo:KvCache:Tier is not a storage tier (got {Tier}).");
        }

        if (ReplayBufferSize < 0)
        {
            throw new ArgumentException($"Dynamo:KvCache:ReplayBufferSize must not be negative (got {ReplayBufferSize}).");
        }
    }
}
