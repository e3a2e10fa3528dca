using Dynamo.Transfer.Metadata;

namespace Dynamo.Transfer.Backends;

/// <summary>A peer whose metadata this agent has loaded, and the backend picked for it. Backends keep their
/// connection state per incarnation, so reloading metadata of the same incarnation keeps connections.</summary>
internal sealed class RemotePeer(AgentMetadata metadata, TransferBackend backend)
{
    private readonly Dictionary<int, RegionMetadata> _regions = metadata.Regions.ToDictionary(r => r.Id);

    public AgentMetadata Metadata { get; } = metadata;

    public string Name => Metadata.Name;

    public Guid Incarnation => Metadata.Incarnation;

    public TransferBackend Backend { get; } = backend;

    public RegionMetadata? Region(int id) => _regions.GetValueOrDefault(id);
}
