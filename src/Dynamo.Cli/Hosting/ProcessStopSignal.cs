using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Hosting;

/// <summary>
/// SIGINT and SIGTERM start a graceful stop of a single-part process: the first one cancels <see cref="Token"/> (and
/// keeps the runtime from exiting at once); a second one is left to the runtime's default, which ends the process.
/// </summary>
/// <remarks>
/// A process can start with signals ignored, inherited from its parent. SIGINT ignored has a meaning: a shell without
/// job control (a script running <c>dynamo serve &amp;</c>, with or without <c>nohup</c>) ignores it in its background
/// jobs so that a Ctrl-C meant for the script's foreground command does not reach them. dynamo respects that, as the
/// shells, CPython and the .NET runtime do (a registration for an ignored signal is never called), and says at start
/// that SIGTERM stops it. From an interactive shell, <c>nohup dynamo serve &amp;</c> leaves SIGINT at its default and
/// <c>kill -INT</c> drains. SIGTERM, what <c>kill</c>, systemd and Kubernetes send, is taken by the .NET runtime even
/// when the parent left it ignored, so a stop always drains (ServeProcessTests starts a child that way).
/// </remarks>
internal sealed partial class ProcessStopSignal : IDisposable
{
    private const int SigInt = 2;
    private const nint SigIgn = 1;

    private readonly CancellationTokenSource _stopping;
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;

    public ProcessStopSignal(ILogger logger, CancellationToken cancellationToken)
    {
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        if (IsIgnored(SigInt))
        {
            Logging.SigIntIgnored(logger, Environment.ProcessId);
        }
    }

    public CancellationToken Token => _stopping.Token;

    /// <summary>Completes when a stop was asked for.</summary>
    public async Task WaitAsync()
    {
        try
        {
            await Task.Delay(Timeout.Infinite, _stopping.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Whether <paramref name="signal"/> is ignored (SIG_IGN). Only asks; changes nothing.</summary>
    private static bool IsIgnored(int signal)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        // struct sigaction begins with the handler on glibc, musl and Darwin; 256 bytes holds the whole of it on each.
        var action = Marshal.AllocHGlobal(256);
        try
        {
            return QueryAction(signal, 0, action) == 0 && Marshal.ReadIntPtr(action) == SigIgn;
        }
        finally
        {
            Marshal.FreeHGlobal(action);
        }
    }

    [LibraryImport("libc", EntryPoint = "sigaction", SetLastError = true)]
    private static partial int QueryAction(int signal, nint action, nint previous);

    private void Stop(PosixSignalContext context)
    {
        if (!_stopping.IsCancellationRequested)
        {
            context.Cancel = true;
            _stopping.Cancel();
        }
    }
}
