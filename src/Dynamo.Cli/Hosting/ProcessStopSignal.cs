using System.Runtime.InteropServices;

namespace Dynamo.Cli.Hosting;

/// <summary>
/// SIGINT and SIGTERM start a graceful stop of a single-part process: the first one cancels <see cref="Token"/> (and
/// keeps the runtime from exiting at once); a second one is left to the runtime's default, which ends the process.
/// </summary>
internal sealed class ProcessStopSignal : IDisposable
{
    private readonly CancellationTokenSource _stopping;
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;

    public ProcessStopSignal(CancellationToken cancellationToken)
    {
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
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

    private void Stop(PosixSignalContext context)
    {
        if (!_stopping.IsCancellationRequested)
        {
            context.Cancel = true;
            _stopping.Cancel();
        }
    }
}
