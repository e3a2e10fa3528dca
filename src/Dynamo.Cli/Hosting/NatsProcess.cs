using Dynamo.Cli.Configuration;
using Dynamo.Runtime.Nats;
using Dynamo.Runtime.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NATS.Client.Core;

namespace Dynamo.Cli.Hosting;

/// <summary>
/// What a process attached to NATS (<c>dynamo frontend</c>, <c>dynamo worker</c>) sets up before its own part: its
/// configuration, logging, the stop signal and the NATS connection. A failure is one line on stderr that names the
/// command, and the command exits 1 (<see cref="Fail"/>).
/// </summary>
internal sealed class NatsProcess : IAsyncDisposable
{
    private readonly string _command;
    private NatsRuntime? _runtime;

    private NatsProcess(string command, DynamoConfiguration configuration, CancellationToken cancellationToken)
    {
        _command = command;
        Configuration = configuration;
        Settings = ClusterSettings.From(configuration);
        Nats = configuration.Nats();
        LoggerFactory = Logging.CreateFactory();
        Stopping = new ProcessStopSignal(LoggerFactory.CreateLogger<ProcessStopSignal>(), cancellationToken);
    }

    public DynamoConfiguration Configuration { get; }

    public ClusterSettings Settings { get; }

    public NatsOptions Nats { get; }

    public ILoggerFactory LoggerFactory { get; }

    public ProcessStopSignal Stopping { get; }

    /// <summary>The connection, once <see cref="ConnectAsync"/> succeeded.</summary>
    public NatsRuntime Runtime => _runtime ?? throw new InvalidOperationException("Not connected to NATS yet.");

    /// <summary>The deployment's secret: workers require it of every request, and it signs what goes on NATS.</summary>
    public ClusterSecret ClusterSecret => Settings.ClusterSecret!;

    /// <summary>
    /// Reads the configuration (file, then flags); null, after saying why, when it is invalid, when no cluster secret
    /// is configured, or when NATS is off this machine without authentication and <paramref name="insecure"/> is false.
    /// </summary>
    public static async Task<NatsProcess?> ConfigureAsync(string command, string? configPath, Dictionary<string, string?> flags, bool insecure, CancellationToken cancellationToken)
    {
        NatsProcess process;
        try
        {
            process = new NatsProcess(command, DynamoConfiguration.Build(configPath, flags), cancellationToken);
        }
        catch (ConfigurationException error)
        {
            InvalidConfiguration(command, error);
            return null;
        }

        var problem = process.Settings.ClusterSecret is null
            ? $"no cluster secret is configured ({ClusterOptions.SectionName}:Secret or --cluster-secret-file). Frontends and workers of a deployment "
              + $"prove who they are to each other with a secret they share; {ClusterSecret.CreateHint}."
            : insecure ? null : process.Nats.InsecureExposure();
        if (problem is not null)
        {
            process.Fail(problem);
            await process.DisposeAsync();
            return null;
        }

        var logger = process.LoggerFactory.CreateLogger("Dynamo.Cluster");
        Logging.ClusterSecret(logger, process.ClusterSecret.Fingerprint, process.ClusterSecret.Source);
        if (insecure && process.Nats.InsecureExposure() is { } exposure)
        {
            Logging.InsecureNats(logger, exposure);
        }

        return process;
    }

    /// <summary>Connects to NATS; false, after saying why, when the server cannot be reached.</summary>
    public async Task<bool> ConnectAsync()
    {
        try
        {
            _runtime = await NatsRuntime.ConnectAsync(Nats, ClusterSecret, LoggerFactory, cancellationToken: Stopping.Token);
            return true;
        }
        catch (Exception error) when (error is NatsException or OptionsValidationException or TimeoutException)
        {
            Fail(error.Message);
            return false;
        }
    }

    /// <summary>
    /// Runs <paramref name="run"/>, the command's work after its configuration was read. A stop signal (SIGTERM or
    /// Ctrl-C) that comes while it is still starting (connecting to NATS, loading the model, binding, registering in
    /// discovery) cancels the start-up; that is a clean stop, not a failure: what had started is undone as
    /// <paramref name="run"/> unwinds (a registration is deleted when the NATS runtime is disposed), the process says so
    /// in one line and exits 0. A scaler that stops a worker it has just started (the planner's local connector, a
    /// Kubernetes scale-down) sees the same exit as for a worker that had served.
    /// </summary>
    public async Task<int> RunAsync(Func<NatsProcess, Task<int>> run)
    {
        ArgumentNullException.ThrowIfNull(run);
        try
        {
            return await run(this);
        }
        catch (OperationCanceledException) when (Stopping.Token.IsCancellationRequested)
        {
            Console.WriteLine($"dynamo {_command}: stopped while starting (SIGTERM or Ctrl-C); it had served nothing, so there was nothing to drain.");
            return 0;
        }
    }

    /// <summary>Says what went wrong; returns the exit code for it.</summary>
    public int Fail(string message)
    {
        Console.Error.WriteLine($"dynamo {_command}: {message}");
        return 1;
    }

    /// <summary>As <see cref="Fail"/>, for a configuration error found after <see cref="ConfigureAsync"/>.</summary>
    public int Fail(ConfigurationException error) => InvalidConfiguration(_command, error);

    public async ValueTask DisposeAsync()
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync();
        }

        Stopping.Dispose();
        LoggerFactory.Dispose();
    }

    private static int InvalidConfiguration(string command, ConfigurationException error)
    {
        Console.Error.WriteLine($"dynamo {command}: invalid configuration:{Environment.NewLine}{error.Message}");
        return 1;
    }
}
