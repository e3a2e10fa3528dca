using Dynamo.Cli.Configuration;
using Dynamo.Runtime.Nats;
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

    /// <summary>Reads the configuration (file, then flags); null, after saying why, when it is invalid.</summary>
    public static NatsProcess? Configure(string command, string? configPath, Dictionary<string, string?> flags, CancellationToken cancellationToken)
    {
        try
        {
            return new NatsProcess(command, DynamoConfiguration.Build(configPath, flags), cancellationToken);
        }
        catch (ConfigurationException error)
        {
            InvalidConfiguration(command, error);
            return null;
        }
    }

    /// <summary>Connects to NATS; false, after saying why, when the server cannot be reached.</summary>
    public async Task<bool> ConnectAsync()
    {
        try
        {
            _runtime = await NatsRuntime.ConnectAsync(Nats, LoggerFactory, cancellationToken: Stopping.Token);
            return true;
        }
        catch (Exception error) when (error is NatsException or OptionsValidationException or TimeoutException)
        {
            Fail(error.Message);
            return false;
        }
    }

    /// <summary>Says what went wrong; returns the exit code for it.</summary>
    public int Fail(string message)
    {
        Console.Error.WriteLine($"dynamo {_command}: {message}");
        return 1;
    }

    /// <summary>As <see cref="Fail"/>, for a configuration error found after <see cref="Configure"/>.</summary>
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
