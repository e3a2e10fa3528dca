using Dynamo.Contracts.Discovery;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Metadata;

namespace Dynamo.Runtime.Tests.Contract;

/// <summary>Every part of the embedded cluster shares one object of each kind.</summary>
public sealed class InProcessBackend : IRuntimeBackend
{
    private readonly InProcessDiscovery _discovery = new();
    private readonly InProcessEventPlane _events = new();
    private readonly InProcessMetadataStore _metadata = new();

    public Task<IDiscovery> NewDiscoveryAsync() => Task.FromResult<IDiscovery>(_discovery);

    public Task<IEventPlane> NewEventPlaneAsync() => Task.FromResult<IEventPlane>(_events);

    public Task<IMetadataStore> NewMetadataStoreAsync() => Task.FromResult<IMetadataStore>(_metadata);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
