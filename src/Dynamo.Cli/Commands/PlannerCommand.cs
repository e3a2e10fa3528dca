using System.CommandLine;
using System.Net;
using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Contracts;
using Dynamo.Operator.Client;
using Dynamo.Operator.Connector;
using Dynamo.Planner;
using Dynamo.Planner.Connectors;
using Dynamo.Planner.Observers;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Nats;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo planner --nats URL --connector local|virtual --frontend-metrics URL</c>: the planner as its own process. It
/// reads the frontends' traffic from their <c>/metrics</c> and the workers' load reports from NATS (signed with the
/// cluster secret, as everything there), decides with the policy of <c>Dynamo:Planner</c>, and acts through the
/// connector: <c>local</c> starts and drains <c>dynamo worker</c> processes on this machine, <c>virtual</c> publishes
/// targets on the event plane for an outside system, <c>kubernetes</c> patches the scaling adapters of the
/// DynamoGraphDeployment <c>--graph</c> (the planner runs as one of its components; see operators/README.md).
/// Its own metrics (<c>dynamo_planner_*</c>) are served on <c>--metrics-port</c>. Exit codes: 0 stopped by a signal,
/// 1 bad configuration, NATS or the Kubernetes API unreachable.
/// </summary>
internal static class PlannerCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "YAML configuration file (keys under Dynamo:; the planner's under Dynamo:Planner, see configs/planner.yaml)." };
        var connector = new Option<string?>("--connector") { Description = "local (dynamo worker processes on this machine), virtual (targets on the event plane for an outside system) or kubernetes (the scaling adapters of the DynamoGraphDeployment --graph)." };
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "kubernetes: kubeconfig file (default: $KUBECONFIG, the pod's service account, or ~/.kube/config)." };
        var kubeNamespace = new Option<string?>("--namespace") { Description = "kubernetes: the graph's namespace (default: $POD_NAMESPACE, or the kubeconfig's)." };
        var graph = new Option<string?>("--graph") { Description = "kubernetes: the DynamoGraphDeployment whose pools this planner sizes (required with --connector kubernetes)." };
        var frontends = new Option<string?>("--frontend-metrics") { Description = "The frontends' metrics URLs, comma-separated (e.g. http://127.0.0.1:8000/metrics): where the planner reads traffic." };
        var metricsHost = new Option<string>("--metrics-host") { Description = "Address the planner's /metrics listens on (default 127.0.0.1).", DefaultValueFactory = _ => "127.0.0.1" };
        var metricsPort = new Option<int>("--metrics-port") { Description = "Port of the planner's /metrics (default 0: a free one, printed at start).", DefaultValueFactory = _ => 0 };
        var flags = new ConfigFlags()
            .Add("--nats", "Dynamo:Nats:Url", "NATS server URL, with JetStream (default nats://127.0.0.1:4222).")
            .Add("--cluster-secret-file", "Dynamo:Cluster:SecretFile", "File holding the deployment's shared secret (required; or set Dynamo:Cluster:Secret).")
            .Add("--profile", "Dynamo:Planner:Profile", "The deployment's profile.json (or its folder); made with 'dynamo profile'.")
            .Add("--advisory", "Dynamo:Planner:Advisory", "true: log and export decisions without carrying them out.")
            .Add("--model", "Dynamo:Serve:Model", "local: the workers' model folder or preset (default tiny).")
            .Add("--engine", "Dynamo:Serve:Engine", "local: the workers' engine, dotnet or mocker.")
            .Add("--prefill-workers", "Dynamo:Serve:PrefillWorkers", "local: prefill workers to start with (default 1).")
            .Add("--decode-workers", "Dynamo:Serve:DecodeWorkers", "local: decode workers to start with (default 1).")
            .Add("--workers", "Dynamo:Serve:Workers", "local, agg mode: workers to start with (default 2).");
        var insecure = FrontendCommand.InsecureOption();
        var command = new Command("planner", "Size the prefill and decode pools from load telemetry, acting through a connector.")
        {
            config, connector, frontends, metricsHost, metricsPort, insecure, kubeconfig, kubeNamespace, graph,
        };
        flags.AddTo(command);
        command.SetAction((parse, cancellationToken) => RunAsync(
            new Arguments(parse.GetValue(config), parse.GetValue(connector), parse.GetValue(frontends), parse.GetValue(metricsHost)!, parse.GetValue(metricsPort), parse.GetValue(insecure),
                parse.GetValue(kubeconfig), parse.GetValue(kubeNamespace), parse.GetValue(graph)),
            flags.Values(parse),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(Arguments args, Dictionary<string, string?> flags, CancellationToken cancellationToken)
    {
        switch (args.Connector?.Trim().ToLowerInvariant())
        {
            case "kubernetes" when string.IsNullOrWhiteSpace(args.Graph):
                Console.Error.WriteLine("dynamo planner: --connector kubernetes needs --graph NAME: the DynamoGraphDeployment whose pools this planner sizes (the operator passes it).");
                return 1;
            case "local" or "virtual" or "kubernetes":
                break;
            case null:
                Console.Error.WriteLine("dynamo planner: --connector is required: local, virtual or kubernetes.");
                return 1;
            default:
                Console.Error.WriteLine($"dynamo planner: --connector '{args.Connector}': expected local, virtual or kubernetes.");
                return 1;
        }

        if (ParseFrontends(args.Frontends) is not { } endpoints)
        {
            return 1;
        }

        if (!IPAddress.TryParse(args.MetricsHost, out var metricsAddress) || args.MetricsPort is < 0 or > 65535)
        {
            Console.Error.WriteLine($"dynamo planner: --metrics-host '{args.MetricsHost}' --metrics-port {args.MetricsPort}: expected an IP address such as 127.0.0.1 and a port between 0 and 65535.");
            return 1;
        }

        await using var process = await NatsProcess.ConfigureAsync("planner", args.ConfigPath, flags, args.Insecure, cancellationToken);
        if (process is null)
        {
            return 1;
        }

        return await process.RunAsync(p => PlanAsync(p, args, flags, endpoints, metricsAddress));
    }

    private static async Task<int> PlanAsync(NatsProcess process, Arguments args, Dictionary<string, string?> flags, IReadOnlyList<Uri> endpoints, IPAddress metricsAddress)
    {
        PlannerSetup setup;
        TimeSpan drainTimeout;
        try
        {
            setup = PlannerSetup.FromConfiguration(process.Configuration);
            drainTimeout = process.Configuration.Worker().DrainTimeout;
        }
        catch (ConfigurationException error)
        {
            return process.Fail(error);
        }

        if (!await process.ConnectAsync())
        {
            return 1;
        }

        var loggerFactory = process.LoggerFactory;
        var logger = loggerFactory.CreateLogger("Dynamo.Planner");
        var options = setup.Options;
        var runtime = process.Runtime;
        var metrics = new PlannerMetrics();
        await using var metricsServer = await StartMetricsServerAsync(metrics, metricsAddress, args.MetricsPort, process.Stopping.Token);
        var maxAge = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(5).Ticks, options.LoadInterval.Ticks * 3));
        await using var board = WorkerLoadBoard.Start(runtime.Events, maxAge, TimeProvider.System, loggerFactory.CreateLogger<WorkerLoadBoard>());
        using var traffic = new FrontendMetricsSource(endpoints, TimeSpan.FromSeconds(Math.Clamp(options.LoadInterval.TotalSeconds, 1, 10)));
        var observer = new ClusterLoadObserver(traffic, board, TimeProvider.System);
        try
        {
            await observer.PrimeAsync(process.Stopping.Token);
        }
        catch (HttpRequestException error)
        {
            // Not fatal: the loop holds and says so until the frontends answer.
            Logging.PlannerFrontendsUnreachable(logger, error.Message);
        }

        KubeApiClient? kube = null;
        IScalingConnector scaling;
        switch (args.Connector!.Trim().ToLowerInvariant())
        {
            case "local":
                scaling = CreateLocal(args, flags, process, options, drainTimeout, loggerFactory);
                break;
            case "kubernetes":
                try
                {
                    kube = KubeApiClient.Create(args.Kubeconfig);
                }
                catch (Exception error) when (error is IOException or k8s.Exceptions.KubeConfigException or k8s.Exceptions.KubernetesClientException or UnauthorizedAccessException or FormatException)
                {
                    Console.Error.WriteLine($"dynamo planner: --connector kubernetes: cannot read the cluster's connection settings: {error.Message}. Pass --kubeconfig FILE or run in a pod.");
                    return 1;
                }

                scaling = new KubernetesScalingConnector(kube, args.Namespace ?? Environment.GetEnvironmentVariable("POD_NAMESPACE") ?? kube.DefaultNamespace, args.Graph!.Trim(), loggerFactory.CreateLogger<KubernetesScalingConnector>());
                break;
            default:
                scaling = VirtualConnector.Start(runtime.Events, TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(30).Ticks, options.LoadInterval.Ticks * 6)), TimeProvider.System, loggerFactory.CreateLogger<VirtualConnector>());
                break;
        }

        try
        {
            var loop = new PlannerLoop(observer, setup.Policy, scaling, EmbeddedPlanner.LoopOptions(options), metrics, TimeProvider.System, loggerFactory.CreateLogger<PlannerLoop>());
            Console.WriteLine(
                $"Dynamo planner is running: connector {scaling.Name}, {setup.Describe()}; traffic from {string.Join(", ", endpoints)}, load reports from NATS {NatsOptions.RedactUrls(process.Nats.Url)}; metrics at {metricsServer.Address}metrics. SIGTERM stops.");
            await loop.RunAsync(process.Stopping.Token);
        }
        finally
        {
            // The local connector drains the workers it started; the virtual one only stops listening; the kubernetes
            // one leaves the pools as they are (the operator keeps them).
            if (scaling is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }

            kube?.Dispose();
        }

        return 0;
    }

    private static LocalWorkerConnector CreateLocal(Arguments args, Dictionary<string, string?> flags, NatsProcess process, PlannerOptions options, TimeSpan drainTimeout, ILoggerFactory loggerFactory)
    {
        var serve = process.Settings.Serve;
        var initial = options.Roles.ToDictionary(r => r, r => r switch
        {
            WorkerRole.Prefill => serve.PrefillWorkers,
            WorkerRole.Decode => serve.DecodeWorkers,
            _ => serve.Workers,
        });

        // Workers get what this process was given (the same file, NATS, secret and model; DYNAMO__ variables are inherited).
        var workerArguments = new List<string>();
        if (args.ConfigPath is not null)
        {
            workerArguments.AddRange(["--config", Path.GetFullPath(args.ConfigPath)]);
        }

        foreach (var (flag, key) in new[] { ("--nats", "Dynamo:Nats:Url"), ("--model", "Dynamo:Serve:Model"), ("--engine", "Dynamo:Serve:Engine") })
        {
            if (flags.TryGetValue(key, out var value) && value is not null)
            {
                workerArguments.AddRange([flag, value]);
            }
        }

        if (flags.TryGetValue("Dynamo:Cluster:SecretFile", out var secretFile) && secretFile is not null)
        {
            workerArguments.AddRange(["--cluster-secret-file", Path.GetFullPath(secretFile)]);
        }

        if (args.Insecure)
        {
            workerArguments.Add("--insecure");
        }

        var (executable, leading) = SelfCommand();
        var connector = new LocalWorkerConnector(
            new LocalWorkerLaunch
            {
                Executable = executable,
                LeadingArguments = leading,
                WorkerArguments = workerArguments,
                StopTimeout = drainTimeout + TimeSpan.FromSeconds(15),
            },
            process.Runtime.Discovery,
            initial,
            loggerFactory.CreateLogger<LocalWorkerConnector>());
        connector.Reconcile();
        return connector;
    }

    /// <summary>How to run this same CLI: its apphost, or <c>dotnet dynamo.dll</c>.</summary>
    private static (string Executable, IReadOnlyList<string> Leading) SelfCommand()
    {
        var path = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase)
            ? (path, [typeof(PlannerCommand).Assembly.Location])
            : (path, []);
    }

    private static IReadOnlyList<Uri>? ParseFrontends(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            Console.Error.WriteLine("dynamo planner: --frontend-metrics is required: the frontends' metrics URLs, comma-separated (e.g. http://127.0.0.1:8000/metrics); the planner reads their traffic there.");
            return null;
        }

        var endpoints = new List<Uri>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                Console.Error.WriteLine($"dynamo planner: --frontend-metrics '{part}': expected an http(s) URL such as http://127.0.0.1:8000/metrics.");
                return null;
            }

            endpoints.Add(uri.AbsolutePath == "/" ? new Uri(uri, "metrics") : uri);
        }

        return endpoints;
    }

    private static async Task<MetricsServer> StartMetricsServerAsync(PlannerMetrics metrics, IPAddress address, int port, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(address, port);
        });
        var app = builder.Build();
        app.MapGet("/metrics", async context =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
        });
        app.MapGet("/live", context => context.Response.WriteAsync("{\"status\":\"live\"}"));
        await app.StartAsync(cancellationToken);
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
        return new MetricsServer(app, new Uri($"http://{address}:{bound.Port}/"));
    }

    private sealed record Arguments(string? ConfigPath, string? Connector, string? Frontends, string MetricsHost, int MetricsPort, bool Insecure, string? Kubeconfig, string? Namespace, string? Graph);

    private sealed class MetricsServer(WebApplication app, Uri address) : IAsyncDisposable
    {
        public Uri Address { get; } = address;

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }
}
