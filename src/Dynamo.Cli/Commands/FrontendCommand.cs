using System.CommandLine;
using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Contracts.Routing;
using Dynamo.Gateway;
using Dynamo.Gateway.Models;
using Dynamo.Llm;
using Dynamo.Router;
using Dynamo.Runtime.Nats;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo frontend --nats URL</c>: the gateway as its own process. It finds workers in the NATS discovery bucket
/// and follows it live: a worker that registers starts taking requests, one that leaves (or whose heartbeats stop)
/// stops getting them. It requires the deployment's cluster secret and signs every worker call with it; only records
/// signed with it count as workers. Exit codes: 0 stopped by a signal, 1 bad configuration or NATS unreachable.
/// </summary>
internal static class FrontendCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "YAML configuration file (keys under Dynamo:)." };
        var flags = new ConfigFlags()
            .Add("--nats", "Dynamo:Nats:Url", "NATS server URL, with JetStream (default nats://127.0.0.1:4222).")
            .Add("--cluster-secret-file", "Dynamo:Cluster:SecretFile", "File holding the deployment's shared secret (required; or set Dynamo:Cluster:Secret). Make one with: openssl rand -base64 32 > cluster.secret")
            .Add("--host", "Dynamo:Gateway:Host", "Address to listen on (default 127.0.0.1).")
            .Add("--port", "Dynamo:Gateway:Port", "Port of the OpenAI endpoint (default 8000).")
            .Add("--grpc-port", "Dynamo:Gateway:GrpcPort", "Port of the KServe v2 gRPC frontend (off when unset).")
            .Add("--model", "Dynamo:Serve:Model", "Model folder, or preset tiny|small|100m (default tiny): the tokenizer and chat template.")
            .Add("--served-model-name", "Dynamo:Serve:ServedModelName", "Name clients use in \"model\"; workers must serve the same name.")
            .Add("--router", "Dynamo:Router:Mode", "round-robin, random, least-loaded or kv.");
        var insecure = InsecureOption();
        var command = new Command("frontend", "Run the gateway as its own process, finding workers through NATS discovery.") { config, insecure };
        flags.AddTo(command);
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetValue(config), flags.Values(parse), parse.GetValue(insecure), cancellationToken));
        return command;
    }

    /// <summary><c>--insecure</c>, shared with <c>dynamo worker</c>.</summary>
    internal static Option<bool> InsecureOption() => new("--insecure")
    {
        Description = "Connect to a NATS server off this machine even though no NATS authentication is configured (anyone who reaches it can publish there).",
    };

    private static async Task<int> RunAsync(string? configPath, Dictionary<string, string?> flags, bool insecure, CancellationToken cancellationToken)
    {
        await using var process = await NatsProcess.ConfigureAsync("frontend", configPath, flags, insecure, cancellationToken);
        if (process is null)
        {
            return 1;
        }

        return await process.RunAsync(ServeAsync);
    }

    private static async Task<int> ServeAsync(NatsProcess process)
    {
        var settings = process.Settings;
        var loggerFactory = process.LoggerFactory;
        var logger = loggerFactory.CreateLogger("Dynamo.Frontend");
        // Before the model loads and NATS connects: a port another process holds fails now, in one line.
        if (StartupChecks.GatewayPortsInUse(settings.Gateway) is { } busy)
        {
            process.Fail(busy);
            return StartupChecks.PortInUseExitCode;
        }

        ModelCard card;
        try
        {
            (_, card) = await ProcessModel.LoadAsync(settings.Serve, logger, process.Stopping.Token);
        }
        catch (ConfigurationException error)
        {
            return process.Fail(error.Message);
        }
        catch (Llm.ModelFileException error)
        {
            return process.Fail($"cannot load the model: {error.Message}");
        }

        // Before the gateway listens (WarmUp.FrontendAsync: its own path, over a private mocker worker).
        if (settings.Serve.WarmUp)
        {
            try
            {
                await WarmUp.FrontendAsync(settings, card, process.ClusterSecret, logger, process.Stopping.Token);
            }
            catch (Exception error) when (error is not OperationCanceledException || !process.Stopping.Token.IsCancellationRequested)
            {
                WarmUp.Failed(logger, error);
            }
        }

        if (!await process.ConnectAsync())
        {
            return 1;
        }

        // The KV router follows the workers' KV events on NATS and asks them for replays and dumps over HTTP.
        var runtime = process.Runtime;
        IWorkerRouter router;
        try
        {
            router = RouterFactory.Create(settings.Router, new RouterServices { Events = runtime.Events, Discovery = runtime.Discovery, LoggerFactory = loggerFactory, ClusterSecret = process.ClusterSecret });
        }
        catch (Exception error) when (error is NotSupportedException or ArgumentException)
        {
            return process.Fail(error.Message);
        }

        await using var routerLifetime = router as IAsyncDisposable;
        var models = new ModelCatalog();
        models.Add(card);
        GatewayHost gateway;
        try
        {
            gateway = await GatewayHost.StartAsync(settings.Gateway, router, runtime.Discovery, models, process.ClusterSecret, loggerFactory, cancellationToken: process.Stopping.Token);
        }
        catch (Exception error) when (StartupChecks.IsAddressInUse(error))
        {
            // Taken between the check above and the bind.
            process.Fail(StartupChecks.PortInUse(settings.Gateway.Host, settings.Gateway.Port, "the OpenAI endpoint or the admin endpoints", "--port or Dynamo:Gateway:Port, Dynamo:Gateway:AdminPort"));
            return StartupChecks.PortInUseExitCode;
        }

        await using (gateway)
        {
            Console.WriteLine(
                $"Dynamo frontend is serving model '{card.Name}' at {gateway.Address}v1 ({runtime.Discovery.GetInstances().Count} workers in discovery on {NatsOptions.RedactUrls(process.Nats.Url)}). Ctrl-C stops.");
            if (gateway.GrpcAddress is { } grpc)
            {
                Console.WriteLine($"KServe v2 gRPC frontend (inference.GRPCInferenceService, h2c) on {grpc.Host}:{grpc.Port}.");
            }

            await process.Stopping.WaitAsync();
            Logging.Stopping(logger, settings.Serve.ShutdownTimeout.TotalSeconds);
            using var deadline = new CancellationTokenSource(settings.Serve.ShutdownTimeout);
            await gateway.StopAsync(deadline.Token);
        }

        return 0;
    }
}
