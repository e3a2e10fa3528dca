using Dynamo.Contracts.Discovery;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Metadata;

namespace Dynamo.Runtime.Tests.Contract;

/// <summary>
/// One shared backend (an in-process object, or one NATS namespace) and views of it as separate processes would
/// have them: for NATS each view is its own connection.
/// </summary>
public interface IRuntimeBackend : IAsyncDisposable
{
    Task<IDiscovery> NewDiscoveryAsync();

    Task<IEventPlane> NewEventPlaneAsync();

    Task<IMetadataStore> NewMetadataStoreAsync();
}
