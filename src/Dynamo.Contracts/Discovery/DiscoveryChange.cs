namespace Dynamo.Contracts.Discovery;

public enum DiscoveryChangeKind
{
    Added,
    Removed,
}

/// <summary>A worker joined or left.</summary>
public sealed record DiscoveryChange(DiscoveryChangeKind Kind, WorkerInstance Instance);
