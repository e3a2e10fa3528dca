using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>
/// A real <c>nats-server</c> with JetStream on a free loopback port, its store in a temporary folder, started and
/// stopped by the test (scripts/test.sh installs it). <see cref="StopAsync"/> and <see cref="StartAsync()"/> again
/// restart it on the same port and store, as an operator restarting the server would.
/// </summary>
public sealed class NatsServer : IAsyncDisposable
{
    private readonly string _storeDir;
    private readonly StringBuilder _log = new();
    private Process? _process;

    private NatsServer(int port, string storeDir)
    {
        Port = port;
        _storeDir = storeDir;
    }

    public int Port { get; }

    public string Url => $"nats://127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>What the server printed, for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Extra command-line arguments for every start (TLS settings, for instance).</summary>
    public IReadOnlyList<string> ExtraArguments { get; private init; } = [];

    public static async Task<NatsServer> StartNewAsync(params string[] extraArguments)
    {
        var store = Path.Combine(Path.GetTempPath(), "dynamo-tests", "nats-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(store);
        var server = new NatsServer(FreePort(), store) { ExtraArguments = extraArguments };
        await server.StartAsync();
        return server;
    }

    public async Task StartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("nats-server is already running.");
        }

        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process
        {
            StartInfo = new ProcessStartInfo(Executable())
            {
                ArgumentList = { "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-js", "-sd", _storeDir },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            },
            EnableRaisingEvents = true,
        };
        foreach (var argument in ExtraArguments)
        {
            process.StartInfo.ArgumentList.Add(argument);
        }

        DataReceivedEventHandler onLine = (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (_log)
            {
                _log.AppendLine(e.Data);
            }

            if (e.Data.Contains("Server is ready", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.OutputDataReceived += onLine;
        process.ErrorDataReceived += onLine;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"nats-server exited before it was ready:\n{Log}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"nats-server on port {Port} did not say it was ready within 15 s:\n{Log}");
        }
    }

    /// <summary>Stops the server abruptly (SIGKILL): clients see their connections drop at once.</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process)
        {
            return;
        }

        _process = null;
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        await process.WaitForExitAsync();
        process.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_storeDir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }

    private static string Executable()
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Concat(["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"]);
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, "nats-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("nats-server is not installed; scripts/test.sh installs it (Debian package nats-server).");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
