using Dynamo.Contracts.Discovery;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Metadata;
using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Runtime.Tests.Contract;

/// <summary>A fresh namespace on a real nats-server; each view is a separate connection, as in another process.</summary>
public sealed class NatsBackend(string url, ILoggerFactory? loggerFactory = null, Action<NatsOptions>? configure = null) : IRuntimeBackend
{
    private readonly List<NatsRuntime> _runtimes = [];

    public string Namespace { get; } = "t" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>The secret every view of this backend shares, as the processes of one deployment do.</summary>
    public ClusterSecret Secret => Infrastructure.TestSecret.Secret;

    public NatsOptions Options()
    {
        var options = new NatsOptions
        {
            Url = url,
            Namespace = Namespace,
            LeaseTtl = TimeSpan.FromSeconds(2),
            HeartbeatInterval = TimeSpan.FromMilliseconds(500),
        };
        configure?.Invoke(options);
        return options;
    }

    public async Task<NatsRuntime> NewRuntimeAsync(Action<NatsOptions>? configure = null)
    {
        var options = Options();
        configure?.Invoke(options);
        var runtime = await NatsRuntime.ConnectAsync(options, Secret, loggerFactory ?? NullLoggerFactory.Instance);
        lock (_runtimes)
        {
            _runtimes.Add(runtime);
        }

        return runtime;
    }

    public async Task<IDiscovery> NewDiscoveryAsync() => (await NewRuntimeAsync()).Discovery;

    public async Task<IEventPlane> NewEventPlaneAsync() => (await NewRuntimeAsync()).Events;

    public async Task<IMetadataStore> NewMetadataStoreAsync() => (await NewRuntimeAsync()).Metadata;

    public async ValueTask DisposeAsync()
    {
        NatsRuntime[] runtimes;
        lock (_runtimes)
        {
            runtimes = [.. _runtimes];
        }

        foreach (var runtime in runtimes)
        {
            await runtime.DisposeAsync();
        }
    }
}
