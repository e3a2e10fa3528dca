using System.CommandLine;
using Dynamo.Cli.Hosting;
using Dynamo.DevCluster;
using Dynamo.DevCluster.Node;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo devcluster --port P --kubeconfig FILE [--data-dir DIR] [--workdir DIR] [--dynamo-command CMD]</c>: the one-machine
/// Kubernetes cluster in the foreground: the API server on 127.0.0.1:P (HTTPS, bearer token), the controllers
/// (Deployments, ReplicaSets, StatefulSets, Endpoints) and the node agent (each Pod's containers as local processes,
/// Services proxied on loopback cluster IPs and NodePort Services on 127.0.0.1:nodePort). Writes the kubeconfig,
/// prints how to use it, and stops everything (every pod process included) on Ctrl-C or SIGTERM. Exit codes: 0
/// stopped by a signal, 1 bad arguments or the port taken.
/// </summary>
internal static class DevclusterCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "TCP port of the API server on 127.0.0.1 (0: a free one).", Required = true };
        var kubeconfig = new Option<string>("--kubeconfig") { Description = "Where to write the kubeconfig for kubectl and clients (overwritten).", Required = true };
        var dataDir = new Option<string?>("--data-dir") { Description = "Folder for pod logs (pods/NAMESPACE_NAME_UID/CONTAINER.log) and volumes (default: a devcluster-data folder beside the kubeconfig)." };
        var workdir = new Option<string?>("--workdir") { Description = "Where containers that set no workingDir start, as an image's WORKDIR (default: the current folder, so relative paths in a graph's configuration resolve from here)." };
        var dynamo = new Option<string?>("--dynamo-command") { Description = "How pods run `dynamo`: an apphost path or 'dotnet PATH/dynamo.dll' (default: this dynamo)." };
        var command = new Command("devcluster", "Run a Kubernetes-compatible cluster on this machine: API server, controllers and a node agent running pods as local processes.")
        {
            port, kubeconfig, dataDir, workdir, dynamo,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetValue(port), parse.GetValue(kubeconfig)!, parse.GetValue(dataDir), parse.GetValue(workdir), parse.GetValue(dynamo), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(int port, string kubeconfig, string? dataDir, string? workdir, string? dynamoCommand, CancellationToken cancellationToken)
    {
        if (port is < 0 or > 65535)
        {
            Console.Error.WriteLine($"dynamo devcluster: --port {port}: expected a TCP port between 0 and 65535 (0 picks a free one).");
            return 1;
        }
        var kubeconfigPath = Path.GetFullPath(kubeconfig);
        if (Directory.Exists(kubeconfigPath))
        {
            Console.Error.WriteLine($"dynamo devcluster: --kubeconfig {kubeconfig} is a folder: give a file path such as {Path.Combine(kubeconfig, "kubeconfig")}.");
            return 1;
        }
        DynamoCommand dynamo;
        try
        {
            dynamo = string.IsNullOrWhiteSpace(dynamoCommand) ? DynamoCommand.FromRunningProcess() : DynamoCommand.Parse(dynamoCommand);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            Console.Error.WriteLine($"dynamo devcluster: --dynamo-command: {e.Message}.");
            return 1;
        }
        if (port != 0 && PortTaken(port) is { } why)
        {
            Console.Error.WriteLine($"dynamo devcluster: cannot listen on 127.0.0.1:{port}: {why}. Pick another --port (0 picks a free one).");
            return 1;
        }
        var workingDirectory = Path.GetFullPath(workdir ?? Environment.CurrentDirectory);
        if (!Directory.Exists(workingDirectory))
        {
            Console.Error.WriteLine($"dynamo devcluster: --workdir {workdir}: no such folder; give an existing folder (default: the current one).");
            return 1;
        }
        var data = Path.GetFullPath(dataDir ?? Path.Combine(Path.GetDirectoryName(kubeconfigPath)!, "devcluster-data"));

        using var loggerFactory = Logging.CreateFactory();
        var logger = loggerFactory.CreateLogger("Dynamo.Cli.DevCluster");
        using var stop = new ProcessStopSignal(logger, cancellationToken);
        DevClusterHost host;
        try
        {
            host = await DevClusterHost.StartAsync(
                new DevApiServerOptions { Port = port, GracefulPodDeletion = true },
                new NodeAgentOptions { DataDirectory = data, Dynamo = dynamo, WorkingDirectory = workingDirectory },
                loggerFactory,
                stop.Token);
        }
        catch (IOException e) when (e.InnerException is not null || e.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"dynamo devcluster: cannot listen on 127.0.0.1:{port}: {e.Message.TrimEnd('.')}. Pick another --port (0 picks a free one).");
            return 1;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException or ArgumentException)
        {
            Console.Error.WriteLine($"dynamo devcluster: {e.Message}");
            return 1;
        }

        await using (host)
        {
            try
            {
                host.Server.WriteKubeconfig(kubeconfigPath);
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                Console.Error.WriteLine($"dynamo devcluster: cannot write --kubeconfig {kubeconfig}: {e.Message}");
                return 1;
            }
            Console.WriteLine($"Dev cluster API server on {host.Server.Address.GetLeftPart(UriPartial.Authority)} (node {host.Node.HostIp}, pod logs in {data})");
            Console.WriteLine($"Kubeconfig written to {kubeconfigPath}:");
            Console.WriteLine($"  export KUBECONFIG={kubeconfigPath}");
            Console.WriteLine("  kubectl get pods -o wide        (Services of type NodePort answer on 127.0.0.1:<nodePort>)");
            Console.WriteLine("Ctrl-C or SIGTERM stops the cluster and every pod process.");
            await stop.WaitAsync();
            Console.WriteLine("Stopping the dev cluster: pod processes get SIGTERM, then SIGKILL after their grace period (10 s at most).");
        }
        return 0;
    }

    /// <summary>Why 127.0.0.1:port cannot be listened on (taken, not allowed), or null when it can; asked before the server logs a failed start.</summary>
    private static string? PortTaken(int port)
    {
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port));
            return null;
        }
        catch (System.Net.Sockets.SocketException e)
        {
            return e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse ? "the port is already in use" : e.Message;
        }
    }
}
