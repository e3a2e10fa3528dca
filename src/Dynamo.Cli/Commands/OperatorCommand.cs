using System.CommandLine;
using System.Net;
using Dynamo.Cli.Hosting;
using Dynamo.Operator.Client;
using Dynamo.Operator.Controller;
using Dynamo.Operator.Schema;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo operator [--kubeconfig FILE]</c>: the Kubernetes operator. It reconciles DynamoGraphDeployments into
/// Deployments, Services, a ConfigMap, a Secret, NATS and scaling adapters, with a leader Lease so replicas can run
/// side by side (one acts). Connection: <c>--kubeconfig</c>, else <c>$KUBECONFIG</c>, else the pod's service account,
/// else <c>~/.kube/config</c>. <c>dynamo operator crds --out DIR</c> writes the CRDs generated from the API types.
/// Exit codes: 0 stopped by a signal, 1 bad arguments or no cluster.
/// </summary>
internal static class OperatorCommand
{
    public static Command Create()
    {
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "kubeconfig file (default: $KUBECONFIG, the in-cluster service account, or ~/.kube/config)." };
        var ns = new Option<string?>("--namespace") { Description = "Reconcile graphs of this namespace only (default: all namespaces)." };
        var leaseNamespace = new Option<string?>("--lease-namespace") { Description = "Namespace of the leader Lease (default: $POD_NAMESPACE, the kubeconfig's namespace, or default)." };
        var identity = new Option<string?>("--id") { Description = "This replica's identity in the Lease (default: $POD_NAME, or host name and process id)." };
        var workers = new Option<int>("--workers") { Description = "Graphs reconciled at once (default 2).", DefaultValueFactory = _ => 2 };
        var metricsHost = new Option<string>("--metrics-host") { Description = "Address /metrics listens on (default 127.0.0.1).", DefaultValueFactory = _ => "127.0.0.1" };
        var metricsPort = new Option<int>("--metrics-port") { Description = "Port of /metrics (default 0: a free one, printed at start; -1: none).", DefaultValueFactory = _ => 0 };
        var command = new Command("operator", "Run the Kubernetes operator: reconcile DynamoGraphDeployments into Deployments, Services and scaling adapters.")
        {
            kubeconfig, ns, leaseNamespace, identity, workers, metricsHost, metricsPort,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(
            parse.GetValue(kubeconfig), parse.GetValue(ns), parse.GetValue(leaseNamespace), parse.GetValue(identity), parse.GetValue(workers),
            parse.GetValue(metricsHost)!, parse.GetValue(metricsPort), cancellationToken));

        var output = new Option<string>("--out") { Description = "Folder to write the CRD files into (e.g. operators/crds).", Required = true };
        var crds = new Command("crds", "Write the CustomResourceDefinitions generated from the API types (what kubectl apply -f needs first).") { output };
        crds.SetAction(parse =>
        {
            var directory = Path.GetFullPath(parse.GetValue(output)!);
            Directory.CreateDirectory(directory);
            foreach (var (file, crd) in CrdGenerator.All())
            {
                File.WriteAllText(Path.Combine(directory, file), YamlText.Write(crd));
                Console.WriteLine(Path.Combine(directory, file));
            }

            return 0;
        });
        command.Subcommands.Add(crds);
        return command;
    }

    private static async Task<int> RunAsync(string? kubeconfig, string? ns, string? leaseNamespace, string? identity, int workers, string metricsHost, int metricsPort, CancellationToken cancellationToken)
    {
        if (workers is < 1 or > 64)
        {
            Console.Error.WriteLine($"dynamo operator: --workers {workers}: expected 1 to 64.");
            return 1;
        }

        if (!IPAddress.TryParse(metricsHost, out var metricsAddress) || metricsPort is < -1 or > 65535)
        {
            Console.Error.WriteLine($"dynamo operator: --metrics-host '{metricsHost}' --metrics-port {metricsPort}: expected an IP address such as 127.0.0.1 and a port between 0 and 65535 (-1 for none).");
            return 1;
        }

        KubeApiClient api;
        try
        {
            api = KubeApiClient.Create(kubeconfig);
        }
        catch (Exception error) when (error is IOException or k8s.Exceptions.KubeConfigException or k8s.Exceptions.KubernetesClientException or UnauthorizedAccessException or FormatException)
        {
            Console.Error.WriteLine($"dynamo operator: cannot read the cluster's connection settings: {error.Message}. Pass --kubeconfig FILE (e.g. the one 'dynamo devcluster --kubeconfig FILE' writes) or run in a pod.");
            return 1;
        }

        using var _ = api;
        using var loggerFactory = Logging.CreateFactory();
        using var stop = new ProcessStopSignal(loggerFactory.CreateLogger<ProcessStopSignal>(), cancellationToken);
        var options = new OperatorHostOptions
        {
            Namespace = ns,
            Workers = workers,
            LeaderElection = new LeaderElectionOptions
            {
                Namespace = leaseNamespace ?? Environment.GetEnvironmentVariable("POD_NAMESPACE") ?? api.DefaultNamespace,
                Identity = identity ?? Environment.GetEnvironmentVariable("POD_NAME") ?? $"{Environment.MachineName}-{Environment.ProcessId}",
            },
        };
        var host = new OperatorHost(api, options, loggerFactory);
        WebApplication? metrics = null;
        if (metricsPort >= 0)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.AddServerHeader = false;
                kestrel.Listen(metricsAddress, metricsPort);
            });
            metrics = builder.Build();
            metrics.MapGet("/metrics", async context =>
            {
                context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await host.Metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
            });
            metrics.MapGet("/healthz", context => context.Response.WriteAsync("ok"));
            await metrics.StartAsync(stop.Token);
        }

        try
        {
            Console.WriteLine(
                $"Dynamo operator {options.LeaderElection.Identity} is running against {api.BaseAddress}: graphs in {ns ?? "all namespaces"}, leader Lease {options.LeaderElection.Namespace}/{options.LeaderElection.LeaseName}"
                + (metrics is null ? "" : $", metrics at {MetricsAddress(metrics)}metrics") + ". SIGTERM stops.");
            await host.RunAsync(stop.Token);
        }
        finally
        {
            if (metrics is not null)
            {
                await metrics.StopAsync(CancellationToken.None);
                await metrics.DisposeAsync();
            }
        }

        return 0;
    }

    private static string MetricsAddress(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First().TrimEnd('/') + "/";
}
