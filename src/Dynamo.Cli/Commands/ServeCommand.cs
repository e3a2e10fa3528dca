using System.CommandLine;
using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Router;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo serve</c>: the whole cluster in one process (gateway, router, workers) on the OpenAI endpoint.
/// Flags override environment variables, which override the YAML file.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "YAML configuration file (keys under Dynamo:)." };
        var flags = new (Option<string?> Option, string Key)[]
        {
            (new Option<string?>("--host") { Description = "Address to listen on (default 127.0.0.1)." }, "Dynamo:Gateway:Host"),
            (new Option<string?>("--port") { Description = "Port of the OpenAI endpoint (default 8000)." }, "Dynamo:Gateway:Port"),
            (new Option<string?>("--grpc-port") { Description = "Port of the KServe v2 gRPC frontend (off when unset)." }, "Dynamo:Gateway:GrpcPort"),
            (new Option<string?>("--engine") { Description = "dotnet (real transformer) or mocker (simulated)." }, "Dynamo:Serve:Engine"),
            (new Option<string?>("--model") { Description = "Model folder, or preset tiny|small|100m (default tiny)." }, "Dynamo:Serve:Model"),
            (new Option<string?>("--served-model-name") { Description = "Name clients use in \"model\"." }, "Dynamo:Serve:ServedModelName"),
            (new Option<string?>("--mode") { Description = "disagg (prefill and decode pools, the default) or agg (every worker does both)." }, "Dynamo:Serve:Mode"),
            (new Option<string?>("--workers") { Description = "Workers with --mode agg (default 2)." }, "Dynamo:Serve:Workers"),
            (new Option<string?>("--prefill-workers") { Description = "Prefill workers in disagg mode." }, "Dynamo:Serve:PrefillWorkers"),
            (new Option<string?>("--decode-workers") { Description = "Decode workers in disagg mode." }, "Dynamo:Serve:DecodeWorkers"),
            (new Option<string?>("--router") { Description = "kv (default), round-robin, random or least-loaded." }, "Dynamo:Router:Mode"),
            (new Option<string?>("--cluster-secret-file") { Description = "File holding the secret the in-process workers require of every request (default: one made for this run)." }, "Dynamo:Cluster:SecretFile"),
        };

        var planner = new Option<bool>("--planner") { Description = "Size the prefill and decode pools from load with the planner (settings under Dynamo:Planner; see configs/planner.yaml)." };
        var command = new Command("serve", "Run the whole cluster in one process behind an OpenAI-compatible endpoint.") { config, planner };
        foreach (var (option, _) in flags)
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var (option, key) in flags)
            {
                if (parse.GetValue(option) is { } value)
                {
                    values[key] = value;
                }
            }

            return await RunAsync(parse.GetValue(config), values, parse.GetValue(planner), cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(string? configPath, Dictionary<string, string?> flags, bool planner, CancellationToken cancellationToken)
    {
        ClusterSettings settings;
        PlannerSetup? plannerSetup = null;
        try
        {
            var configuration = DynamoConfiguration.Build(configPath, flags);
            settings = ClusterSettings.From(configuration);
            if (planner)
            {
                plannerSetup = PlannerSetup.ForServe(configuration, settings.Serve);
            }
        }
        catch (ConfigurationException error)
        {
            Console.Error.WriteLine($"dynamo serve: invalid configuration:{Environment.NewLine}{error.Message}");
            return 1;
        }

        // Before any model loads: a port another process holds fails now, in one line.
        if (StartupChecks.GatewayPortsInUse(settings.Gateway) is { } busy)
        {
            Console.Error.WriteLine($"dynamo serve: {busy}");
            return StartupChecks.PortInUseExitCode;
        }

        using var loggerFactory = Logging.CreateFactory();
        var logger = loggerFactory.CreateLogger("Dynamo.Serve");

        // Ctrl-C and SIGTERM both start a graceful stop; a second signal is left to the runtime's default.
        using var stopping = new ProcessStopSignal(loggerFactory.CreateLogger<ProcessStopSignal>(), cancellationToken);

        EmbeddedCluster started;
        try
        {
            started = await EmbeddedCluster.StartAsync(settings, loggerFactory, stopping.Token);
        }
        catch (ConfigurationException error)
        {
            Console.Error.WriteLine($"dynamo serve: invalid configuration:{Environment.NewLine}{error.Message}");
            return 1;
        }
        catch (Llm.ModelFileException error)
        {
            Console.Error.WriteLine($"dynamo serve: cannot load the model: {error.Message} (a model folder holds config.json, model.safetensors and the tokenizer files; `dynamo model init --out DIR` writes one, or use a preset: --model tiny|small|100m).");
            return 1;
        }
        catch (Exception error) when (StartupChecks.IsAddressInUse(error))
        {
            // Taken between the check above and the bind.
            Console.Error.WriteLine($"dynamo serve: {StartupChecks.PortInUse(settings.Gateway.Host, settings.Gateway.Port, "the OpenAI endpoint or the admin endpoints", "--port or Dynamo:Gateway:Port, Dynamo:Gateway:AdminPort")}");
            return StartupChecks.PortInUseExitCode;
        }
        catch (OperationCanceledException) when (stopping.Token.IsCancellationRequested)
        {
            // Stopped while starting: what had started was stopped as the start-up unwound; a clean stop.
            Console.WriteLine("dynamo serve: stopped while starting (SIGTERM or Ctrl-C); it had served nothing, so there was nothing to drain.");
            return 0;
        }

        await using var cluster = started;
        var pools = settings.Serve.Mode == "disagg"
            ? $"{settings.Serve.PrefillWorkers} prefill + {settings.Serve.DecodeWorkers} decode"
            : $"{settings.Serve.Workers} aggregated";
        await using var embeddedPlanner = plannerSetup is null
            ? null
            : await EmbeddedPlanner.StartAsync(cluster, plannerSetup.Options, plannerSetup.Policy, loggerFactory, stopping.Token);
        Console.WriteLine($"Dynamo is serving model '{cluster.ModelName}' at {cluster.Address}v1 ({pools} {settings.Serve.Engine} workers, router {settings.Router.Mode}). Ctrl-C stops.");
        if (cluster.GrpcAddress is { } grpc)
        {
            Console.WriteLine($"KServe v2 gRPC frontend (inference.GRPCInferenceService, h2c) on {grpc.Host}:{grpc.Port}.");
        }
        if (plannerSetup is not null)
        {
            Console.WriteLine($"Planner on: {plannerSetup.Describe()}; decisions on {cluster.AdminAddress}metrics (dynamo_planner_*) and in the log.");
        }

        await stopping.WaitAsync();
        Logging.Stopping(logger, settings.Serve.ShutdownTimeout.TotalSeconds);
        if (embeddedPlanner is not null)
        {
            // No new decisions while the cluster drains; scale-downs under way finish first.
            await embeddedPlanner.DisposeAsync();
        }

        await cluster.StopAsync(settings.Serve.ShutdownTimeout);
        return 0;
    }
}
