using Dynamo.DevCluster.Controllers;
using Microsoft.Extensions.Logging;

namespace Dynamo.DevCluster.Node;

/// <summary>
/// The whole one-machine cluster: the API server (with graceful Pod deletion), the controllers and the node agent.
/// Disposing stops the node agent first (every pod process ends), then the controllers, then the server.
/// </summary>
public sealed class DevClusterHost : IAsyncDisposable
{
    private DevClusterHost(DevApiServer server, ControllerManager controllers, NodeAgent node)
    {
        Server = server;
        Controllers = controllers;
        Node = node;
    }

    public DevApiServer Server { get; }

    public ControllerManager Controllers { get; }

    public NodeAgent Node { get; }

    public static async Task<DevClusterHost> StartAsync(DevApiServerOptions serverOptions, NodeAgentOptions nodeOptions, ILoggerFactory loggerFactory, CancellationToken cancellationToken = default)
    {
        nodeOptions.Validate();
        if (!serverOptions.GracefulPodDeletion)
            throw new ArgumentException("DevApiServerOptions.GracefulPodDeletion must be true with a node agent: Pods go only once their processes stopped");
        var server = await DevApiServer.StartAsync(serverOptions, loggerFactory, cancellationToken);
        try
        {
            var node = new NodeAgent(server.Store, nodeOptions, loggerFactory, serverOptions.TimeProvider);
            var controllers = new ControllerManager(server.Store, loggerFactory, serverOptions.TimeProvider);
            // Pods reach the API with this kubeconfig (the dev cluster's stand-in for a service account).
            var podKubeconfig = Path.Combine(Path.GetFullPath(nodeOptions.DataDirectory), "kubeconfig");
            server.WriteKubeconfig(podKubeconfig);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(podKubeconfig, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            node.ApiServer = server.Address;
            node.PodKubeconfig = podKubeconfig;
            node.Metrics = new NodeMetrics(server.MetricsRegistry, server.Store, nodeOptions.NodeName, () => controllers.Passes);
            node.Start();
            controllers.Start();
            return new DevClusterHost(server, controllers, node);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Node.DisposeAsync();
        await Controllers.DisposeAsync();
        await Server.DisposeAsync();
    }
}
