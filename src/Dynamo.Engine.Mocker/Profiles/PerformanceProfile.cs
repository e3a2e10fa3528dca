namespace Dynamo.Engine.Mocker.Profiles;

/// <summary>
/// Everything a simulated worker needs to time itself like a given deployment: the step-time model, the KV pool,
/// batch limits, how many GPUs one worker takes, and the KV transfer model
/// (<c>prompt tokens × KvBytesPerToken / bandwidth + latency</c>).
/// </summary>
public sealed record PerformanceProfile
{
    public required string Name { get; init; }

    /// <summary>Where the figures come from, in a line.</summary>
    public string Description { get; init; } = "";

    public required PerformanceModel Performance { get; init; }

    public int BlockSize { get; init; } = 16;

    public required int TotalKvBlocks { get; init; }

    public int MaxNumSeqs { get; init; } = 256;

    public int MaxNumBatchedTokens { get; init; } = 8192;

    public int MaxContextLength { get; init; } = 131072;

    /// <summary>GPUs one worker occupies (tensor parallelism). Default 1.</summary>
    public int GpusPerWorker { get; init; } = 1;

    /// <summary>GPUs in one NVLink domain; transfers between workers on different nodes use the network. Default 8.</summary>
    public int GpusPerNode { get; init; } = 8;

    public long KvBytesPerToken { get; init; } = 131072;

    /// <summary>KV transfer bandwidth between workers on one node (bytes/s, after efficiency). Default 360 GB/s.</summary>
    public double IntraNodeTransferBandwidth { get; init; } = 360e9;

    /// <summary>KV transfer bandwidth between nodes (bytes/s, after efficiency). Default 40 GB/s.</summary>
    public double InterNodeTransferBandwidth { get; init; } = 40e9;

    /// <summary>Fixed cost of one transfer (descriptor exchange, notification), ms. Default 1.</summary>
    public double TransferLatencyMs { get; init; } = 1.0;

    /// <summary>Milliseconds to move <paramref name="tokens"/> tokens of KV between two workers.</summary>
    public double TransferMs(int tokens, bool sameNode) =>
        TransferLatencyMs + (tokens * (double)KvBytesPerToken / (sameNode ? IntraNodeTransferBandwidth : InterNodeTransferBandwidth) * 1000.0);

    /// <summary>
    /// Mocker options for one worker of this profile (the step model is shared, read-only). A live mocker's KV
    /// transfers take the intra-node bandwidth: its workers share one host.
    /// </summary>
    public MockerOptions ToMockerOptions(string workerId, string modelName = "mock-model") => new()
    {
        WorkerId = workerId,
        ModelName = modelName,
        BlockSize = BlockSize,
        TotalKvBlocks = TotalKvBlocks,
        MaxNumSeqs = MaxNumSeqs,
        MaxNumBatchedTokens = MaxNumBatchedTokens,
        MaxContextLength = MaxContextLength,
        Performance = Performance,
        KvBytesPerToken = KvBytesPerToken,
        KvTransfer = new MockerKvTransferOptions { Bandwidth = IntraNodeTransferBandwidth, LatencyMs = TransferLatencyMs },
        ReplayBufferSize = 0,
        OutputBufferSize = int.MaxValue,
    };
}
