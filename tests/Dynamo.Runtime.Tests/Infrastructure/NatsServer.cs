using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>
/// A real <c>nats-server</c> with JetStream on a loopback port of its own choosing (<c>-p -1</c>: it binds port 0 and
/// logs the port it got, so no other process can take the port between a pick and the bind), its store in a
/// temporary folder, started and stopped by the test (scripts/test.sh installs it). <see cref="StopAsync"/> and
/// <see cref="StartAsync()"/> again restart it on the same port and store, as an operator restarting the server
/// would: clients reconnect to the URL they had, so that restart needs the port it had (free again once the server
/// is gone, and no test picks ports any more).
/// </summary>
public sealed partial class NatsServer : IAsyncDisposable
{
    private readonly string _storeDir;
    private readonly StringBuilder _log = new();
    private Process? _process;

    private NatsServer(string storeDir) => _storeDir = storeDir;

    /// <summary>The port the server bound, known once <see cref="StartAsync"/> returned.</summary>
    public int Port { get; private set; }

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
        var server = new NatsServer(store) { ExtraArguments = extraArguments };
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
                ArgumentList = { "-a", "127.0.0.1", "-p", Port == 0 ? "-1" : Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-js", "-sd", _storeDir },
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

            if (ListeningLine().Match(e.Data) is { Success: true } listening)
            {
                Port = int.Parse(listening.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }

            if (e.Data.Contains("Server is ready", StringComparison.Ordinal))
            {
                if (Port == 0)
                {
                    ready.TrySetException(new InvalidOperationException($"nats-server did not say which port it listens on:\n{Log}"));
                }

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
            throw new TimeoutException($"nats-server did not say it was ready within 15 s:\n{Log}");
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

    [GeneratedRegex(@"Listening for client connections on \S+:(\d+)$")]
    private static partial Regex ListeningLine();
}
