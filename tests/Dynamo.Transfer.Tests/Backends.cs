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

    /// <summary>
    /// The fault tests (a peer vanishing, a transfer abandoned mid-flight) run on UCX only when
    /// <c>DYNAMO_TEST_UCX_FAULTS=1</c>; their TCP and in-process variants always run. UCX 1.13.1 (Debian 12) aborts the
    /// whole process in such cases, which no test can catch: with peer failure handling its TCP transport failed
    /// <c>ucp_request.c:684 ... got REP message</c> when a peer vanished during wire-up, and, in the first full-suite run
    /// of 2026-12-05 on the dev box, <c>tcp_ep.c:478 Assertion !(ep-&gt;flags &amp; UCT_TCP_EP_FLAG_CTX_TYPE_TX)</c> inside
    /// <c>ucp_worker_progress</c>, taking the Transfer test host down; without it, destroying a worker with abandoned
    /// requests crashed in <c>ucp_mem_rereg_mds</c>. 26 runs of each case passed before that, so the abort is rare but
    /// real; the cases stay opt-in until they run in a child process an abort cannot take the suite with.
    /// </summary>
    public static void SkipUcxFaults(TransferBackendKind kind) =>
        Skip.If(kind == TransferBackendKind.Ucx && Environment.GetEnvironmentVariable("DYNAMO_TEST_UCX_FAULTS") != "1",
            "UCX fault cases run only with DYNAMO_TEST_UCX_FAULTS=1: UCX 1.13.1 can abort the process when a peer vanishes (tcp_ep.c:478, ucp_request.c:684)");

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
