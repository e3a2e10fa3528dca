using System.CommandLine;
using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Contracts;
using Dynamo.Runtime.Nats;
using Dynamo.Worker;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo worker --role agg --nats URL</c>: one worker as its own process, registered in NATS discovery under the
/// HTTP address it serves on (answering only requests that carry the deployment's cluster credential), publishing its KV events and load reports on NATS. SIGTERM (or Ctrl-C) drains it: it leaves discovery, finishes in-flight requests (up to
/// <c>Dynamo:Worker:DrainTimeout</c>), then exits 0. Exit codes: 1 bad configuration or NATS unreachable, 2 not available.
/// </summary>
internal static class WorkerCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "YAML configuration file (keys under Dynamo:)." };
        var role = new Option<string>("--role") { Description = "agg (prefill and decode), prefill (computes prompts for decode workers) or decode (reads prompts' KV from prefill workers).", DefaultValueFactory = _ => "agg" };
        var flags = new ConfigFlags()
            .Add("--nats", "Dynamo:Nats:Url", "NATS server URL, with JetStream (default nats://127.0.0.1:4222).")
            .Add("--cluster-secret-file", "Dynamo:Cluster:SecretFile", "File holding the deployment's shared secret (required; or set Dynamo:Cluster:Secret). Make one with: openssl rand -base64 32 > cluster.secret")
            .Add("--model", "Dynamo:Serve:Model", "Model folder, or preset tiny|small|100m (default tiny).")
            .Add("--served-model-name", "Dynamo:Serve:ServedModelName", "Name clients use in \"model\" (default: the preset or folder name).")
            .Add("--engine", "Dynamo:Serve:Engine", "dotnet (real transformer) or mocker (simulated).")
            .Add("--host", "Dynamo:Worker:Host", "Address to listen on (default 127.0.0.1).")
            .Add("--port", "Dynamo:Worker:Port", "Port (default 0: a free one, advertised as bound).")
            .Add("--advertised-host", "Dynamo:Worker:AdvertisedHost", "Host name or address put in discovery (default: --host, or the machine name on 0.0.0.0).")
            .Add("--instance-id", "Dynamo:Worker:InstanceId", "Unique id in discovery and KV events (default: worker- and random hex).");
        var insecure = FrontendCommand.InsecureOption();
        var command = new Command("worker", "Run one worker as its own process, registered in NATS discovery.") { config, role, insecure };
        flags.AddTo(command);
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetValue(config), parse.GetValue(role)!, flags.Values(parse), parse.GetValue(insecure), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string? configPath, string role, Dictionary<string, string?> flags, bool insecure, CancellationToken cancellationToken)
    {
        switch (role.Trim().ToLowerInvariant())
        {
            case "agg":
                flags["Dynamo:Worker:Role"] = nameof(WorkerRole.Aggregated);
                break;
            case "prefill":
                flags["Dynamo:Worker:Role"] = nameof(WorkerRole.Prefill);
                break;
            case "decode":
                flags["Dynamo:Worker:Role"] = nameof(WorkerRole.Decode);
                break;
            default:
                Console.Error.WriteLine($"dynamo worker: --role '{role}': expected agg, prefill or decode.");
                return 1;
        }

        await using var process = await NatsProcess.ConfigureAsync("worker", configPath, flags, insecure, cancellationToken);
        if (process is null)
        {
            return 1;
        }

        return await process.RunAsync(ServeAsync);
    }

    private static async Task<int> ServeAsync(NatsProcess process)
    {
        WorkerOptions workerOptions;
        try
        {
            workerOptions = process.Configuration.Worker();
        }
        catch (ConfigurationException error)
        {
            return process.Fail(error);
        }

        if (!await process.ConnectAsync())
        {
            return 1;
        }

        var settings = process.Settings;
        var loggerFactory = process.LoggerFactory;
        var logger = loggerFactory.CreateLogger("Dynamo.Worker");
        var stopping = process.Stopping;
        var runtime = process.Runtime;
        WorkerHost host;
        Contracts.Engine.IEngine engine;
        KvTransferHosting? transfer = null;
        try
        {
            var (directory, card) = await ProcessModel.LoadAsync(settings.Serve, logger, stopping.Token);
            workerOptions.ServedModelName ??= card.Name;

            // KV events go out on NATS for the frontends' KV routers; replay and dump are served over HTTP.
            var kvEvents = new KvEventPublisher(runtime.Events, loggerFactory.CreateLogger<KvEventPublisher>());
            engine = EngineFactory.Create(settings, workerOptions.InstanceId, directory, card, loggerFactory, kvEvents);
            try
            {
                // Prefill and decode workers move KV between processes: TCP, or UCX where libucp loads.
                transfer = await KvTransferHosting.AttachAsync(engine, workerOptions.Role, workerOptions.InstanceId, settings, runtime.Metadata, "tcp,ucx", process.ClusterSecret, loggerFactory, stopping.Token);
                if (settings.Serve.WarmUp)
                {
                    // Before the worker is in discovery: its first routed request finds the serving path compiled.
                    try
                    {
                        await WarmUp.WorkerAsync(workerOptions, engine, card, process.ClusterSecret, logger, stopping.Token);
                    }
                    catch (Exception error) when (error is not OperationCanceledException || !stopping.Token.IsCancellationRequested)
                    {
                        WarmUp.Failed(logger, error);
                    }
                }

                host = await WorkerHost.StartAsync(workerOptions, engine, card, runtime.Discovery, process.ClusterSecret, loggerFactory, EngineFactory.EventSourceOf(engine), stopping.Token);
            }
            catch
            {
                await engine.DisposeAsync();
                if (transfer is not null)
                {
                    await transfer.DisposeAsync();
                }

                throw;
            }
        }
        catch (ConfigurationException error)
        {
            return process.Fail(error);
        }

        await using (transfer)
        await using (engine)
        await using (host)
        {
            // Load reports go out on NATS beside the KV events, for routers and the planner, until the worker exits.
            await using var loadReports = workerOptions.LoadReportInterval > TimeSpan.Zero
                ? LoadReportPublisher.Start(runtime.Events, engine, host.Instance, workerOptions.LoadReportInterval, TimeProvider.System, loggerFactory.CreateLogger<LoadReportPublisher>())
                : null;
            Console.WriteLine(
                $"Dynamo worker {host.Instance.InstanceId} is serving model '{host.Instance.Model}' at {host.Address} ({settings.Serve.Engine} engine), registered in NATS {NatsOptions.RedactUrls(process.Nats.Url)}. SIGTERM drains.");
            await stopping.WaitAsync();

            // Drain: leave discovery, finish what is in flight (bounded by DrainTimeout), then stop serving.
            await host.StopAsync(CancellationToken.None);
        }

        return 0;
    }
}
