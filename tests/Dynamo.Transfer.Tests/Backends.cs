using Dynamo.Transfer.Backends.Ucx;

namespace Dynamo.Transfer.Tests;

internal static class Backends
{
    public static TheoryData<TransferBackendKind> All => [TransferBackendKind.InProcess, TransferBackendKind.Tcp, TransferBackendKind.Ucx];

    /// <summary>Backends whose serving side checks every range against its own registrations (UCX trusts the rkey).</summary>
    public static TheoryData<TransferBackendKind> ServerValidated => [TransferBackendKind.InProcess, TransferBackendKind.Tcp];

    public static string OptionName(TransferBackendKind kind) => kind switch
    {
        TransferBackendKind.InProcess => "inprocess",
        TransferBackendKind.Tcp => "tcp",
        _ => "ucx",
    };

    /// <summary>Skips the test, saying why, when the backend cannot run on this machine (UCX without libucp).</summary>
    public static void SkipIfUnavailable(TransferBackendKind kind)
    {
        if (kind == TransferBackendKind.Ucx)
        {
            var available = UcxBackend.IsLibraryAvailable(out var reason);
            Skip.IfNot(available, $"UCX backend not testable here: {reason}");
        }
    }

    public static async Task<T> Within<T>(this Task<T> task, string what, int seconds = 30)
    {
        try
        {
            return await task.WaitAsync(TimeSpan.FromSeconds(seconds));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {seconds} s waiting for {what}.");
        }
    }

    public static async Task<TransferNotification> NextNotificationAsync(this TransferAgent agent, string what, int seconds = 30)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            return await agent.Notifications.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"Timed out after {seconds} s waiting for {what}.");
        }
    }
}
