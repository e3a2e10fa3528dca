using System.Collections.Immutable;
using Dynamo.Contracts.Discovery;

namespace Dynamo.Runtime.Discovery;

/// <summary>
/// Discovery for the embedded cluster: every part lives in one process, so a registration is an entry in an
/// immutable map that readers see without locks. The lease ends when the handle is disposed.
/// </summary>
public sealed class InProcessDiscovery : IDiscovery
{
    private readonly Lock _gate = new();
    private ImmutableDictionary<string, WorkerInstance> _instances = ImmutableDictionary<string, WorkerInstance>.Empty;
    private IReadOnlyList<WorkerInstance> _snapshot = [];

    public event Action<DiscoveryChange>? Changed;

    public ValueTask<IAsyncDisposable> RegisterAsync(WorkerInstance instance, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(instance);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (_instances.ContainsKey(instance.InstanceId))
            {
                throw new InvalidOperationException($"Instance '{instance.InstanceId}' is already registered.");
            }

            _instances = _instances.Add(instance.InstanceId, instance);
            _snapshot = [.. _instances.Values.OrderBy(i => i.InstanceId, StringComparer.Ordinal)];
        }

        Changed?.Invoke(new DiscoveryChange(DiscoveryChangeKind.Added, instance));
        return ValueTask.FromResult<IAsyncDisposable>(new Lease(this, instance));
    }

    public IReadOnlyList<WorkerInstance> GetInstances() => Volatile.Read(ref _snapshot);

    private void Unregister(WorkerInstance instance)
    {
        lock (_gate)
        {
            if (!_instances.ContainsKey(instance.InstanceId))
            {
                return;
            }

            _instances = _instances.Remove(instance.InstanceId);
            _snapshot = [.. _instances.Values.OrderBy(i => i.InstanceId, StringComparer.Ordinal)];
        }

        Changed?.Invoke(new DiscoveryChange(DiscoveryChangeKind.Removed, instance));
    }

    private sealed class Lease(InProcessDiscovery owner, WorkerInstance instance) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            owner.Unregister(instance);
            return ValueTask.CompletedTask;
        }
    }
}
