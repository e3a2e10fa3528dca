namespace Dynamo.Contracts.Discovery;

/// <summary>
/// Where workers register and where the gateway finds them. The in-process implementation is the default;
/// the NATS one (JetStream KV with a lease) implements the same contract.
/// </summary>
public interface IDiscovery
{
    /// <summary>
    /// Registers an instance. It stays registered until the returned lease is disposed
    /// (or, for remote implementations, until its heartbeats stop for longer than the lease TTL).
    /// </summary>
    ValueTask<IAsyncDisposable> RegisterAsync(WorkerInstance instance, CancellationToken cancellationToken = default);

    /// <summary>The instances registered right now.</summary>
    IReadOnlyList<WorkerInstance> GetInstances();

    /// <summary>Raised after every add or remove; handlers must be quick and must not throw.</summary>
    event Action<DiscoveryChange>? Changed;
}
