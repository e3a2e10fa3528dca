namespace Dynamo.Contracts.Engine;

/// <summary>A snapshot of an engine's load: what the worker's load endpoint and metrics report.</summary>
public sealed record EngineLoad
{
    /// <summary>Sequences in the running batch.</summary>
    public int RunningRequests { get; init; }

    /// <summary>Sequences admitted but waiting for KV blocks or a batch slot.</summary>
    public int WaitingRequests { get; init; }

    public int KvBlocksUsed { get; init; }

    public int KvBlocksTotal { get; init; }

    /// <summary>Fraction of the KV pool in use by live sequences, 0..1.</summary>
    public double KvUsage => KvBlocksTotal == 0 ? 0 : (double)KvBlocksUsed / KvBlocksTotal;

    /// <summary>Prefix-cache hit rate since start, 0..1 (cached prompt tokens / prompt tokens).</summary>
    public double PrefixCacheHitRate { get; init; }
}
