namespace Dynamo.DevCluster.Node;

/// <summary>Settings of the dev cluster's node agent.</summary>
public sealed class NodeAgentOptions
{
    /// <summary>The node's name, written to <c>spec.nodeName</c> of every Pod it takes (default devcluster-node).</summary>
    public string NodeName { get; init; } = "devcluster-node";

    /// <summary>Where pod folders go: logs (<c>pods/NAMESPACE_NAME_UID/CONTAINER.log</c>) and emptyDir, configMap and secret volumes.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>
    /// How a container whose command is <c>dynamo</c> is run: an executable and the arguments put before the
    /// container's (an apphost path and none, or <c>dotnet</c> and the path of dynamo.dll). Null: the running
    /// process's own dynamo (see <see cref="DynamoCommand.FromRunningProcess"/>).
    /// </summary>
    public DynamoCommand? Dynamo { get; init; }

    /// <summary>
    /// Where a container that sets no <c>workingDir</c> starts: the dev cluster's stand-in for the image's WORKDIR,
    /// since every image is this machine (<c>dynamo devcluster</c> passes its own current folder, so relative paths
    /// in a graph's configuration, such as a planner profile, resolve as they would for <c>dynamo</c> run there).
    /// Null: the pod's own folder under <see cref="DataDirectory"/>.
    /// </summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>The first restart back-off of a crashed container; doubled per restart up to <see cref="MaxRestartBackoff"/> (default 10 s, as the kubelet).</summary>
    public TimeSpan RestartBackoff { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest restart back-off (default 5 min, as the kubelet).</summary>
    public TimeSpan MaxRestartBackoff { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>On agent stop, how long pods get after SIGTERM before SIGKILL at most, whatever their grace period (default 10 s).</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The second byte of the pod addresses 127.B.x.y (default 244, as the usual 10.244/16 pod network).</summary>
    public int PodNetworkByte { get; init; } = 244;

    /// <summary>Lines of a failed container's output kept for its terminated state's message (default 20).</summary>
    public int TerminationMessageLines { get; init; } = 20;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(NodeName)) throw new ArgumentException("NodeAgentOptions.NodeName must not be empty");
        if (string.IsNullOrWhiteSpace(DataDirectory)) throw new ArgumentException("NodeAgentOptions.DataDirectory must be set (a folder for pod logs and volumes)");
        if (WorkingDirectory is not null && !Directory.Exists(WorkingDirectory))
            throw new ArgumentException($"NodeAgentOptions.WorkingDirectory {WorkingDirectory} does not exist: give an existing folder (or none for the pod's own folder)");
        if (RestartBackoff < TimeSpan.Zero || MaxRestartBackoff < RestartBackoff)
            throw new ArgumentException($"NodeAgentOptions: RestartBackoff {RestartBackoff} must be >= 0 and at most MaxRestartBackoff {MaxRestartBackoff}");
        if (PodNetworkByte is < 1 or > 255 || PodNetworkByte == ServiceNetworkByte)
            throw new ArgumentException($"NodeAgentOptions.PodNetworkByte {PodNetworkByte} must be 1-255 and not {ServiceNetworkByte} (the Service addresses)");
    }

    /// <summary>The second byte of Service cluster IPs 127.96.x.y, as the API server allocates them.</summary>
    public const int ServiceNetworkByte = 96;
}

/// <summary>How to start the dynamo CLI: an executable and the arguments that go before the verb.</summary>
public sealed record DynamoCommand(string Executable, IReadOnlyList<string> LeadingArguments)
{
    /// <summary>
    /// The dynamo this process is: its apphost, or <c>dotnet dynamo.dll</c> when it runs under <c>dotnet</c>; in a
    /// process that is not dynamo (a test host), the dynamo.dll (or apphost) beside the running assembly.
    /// </summary>
    public static DynamoCommand FromRunningProcess()
    {
        var process = Environment.ProcessPath ?? "dotnet";
        var name = Path.GetFileNameWithoutExtension(process);
        if (name.Equals("dynamo", StringComparison.OrdinalIgnoreCase)) return new DynamoCommand(process, []);
        var dll = Path.Combine(AppContext.BaseDirectory, "dynamo.dll");
        if (name.Equals("dotnet", StringComparison.OrdinalIgnoreCase) && File.Exists(dll)) return new DynamoCommand(process, [dll]);
        var apphost = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "dynamo.exe" : "dynamo");
        if (File.Exists(apphost)) return new DynamoCommand(apphost, []);
        if (File.Exists(dll)) return new DynamoCommand("dotnet", [dll]);
        throw new InvalidOperationException($"no dynamo CLI found beside {AppContext.BaseDirectory}: set NodeAgentOptions.Dynamo (an apphost path, or dotnet and the path of dynamo.dll)");
    }

    /// <summary>Parses "PATH" or "dotnet PATH/dynamo.dll" (words separated by spaces).</summary>
    public static DynamoCommand Parse(string text)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length == 0) throw new ArgumentException("the dynamo command is empty: give an apphost path or 'dotnet PATH/dynamo.dll'");
        return new DynamoCommand(words[0], words[1..]);
    }
}
