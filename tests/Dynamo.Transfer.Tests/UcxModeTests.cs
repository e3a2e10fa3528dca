using Dynamo.Transfer.Memory;
using Xunit.Abstractions;

namespace Dynamo.Transfer.Tests;

/// <summary>
/// UCX in both of its modes: peer failure handling on (the default; on one host UCX then runs over its TCP transport)
/// and off (shared memory). TransferBackendTests runs every case in the default mode; these keep the other one
/// covered for moving bytes and for a peer that goes away.
/// </summary>
public sealed class UcxModeTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ReadAndWriteWithNotification_MoveExactlyTheBytes(bool peerFailureHandling)
    {
        Backends.SkipIfUnavailable(TransferBackendKind.Ucx);
        await using var pair = AgentPair.Create(TransferBackendKind.Ucx, bytes: 8 << 20, configure: o => o.UcxPeerFailureHandling = peerFailureHandling);
        var remoteBytes = pair.RemoteBuffer.Span.ToArray();
        var all = (Local: new DescriptorList().Add(pair.LocalRegion.Describe(0, 8 << 20)), Remote: new DescriptorList().Add(pair.RemoteMeta.Describe(0, 8 << 20)));

        var read = await pair.Local.PostTransfer(TransferOperation.Read, all.Local, all.Remote, pair.Remote.Name).Completion.Within("an 8 MiB read");
        Assert.True(read.IsSuccess, read.ToString());
        Assert.Equal(TransferBackendKind.Ucx, read.Backend);
        Assert.True(remoteBytes.AsSpan().SequenceEqual(pair.LocalBuffer.Span), "the read did not copy the remote buffer");

        pair.LocalBuffer.Span.Reverse();
        var written = pair.LocalBuffer.Span.ToArray();
        var write = pair.Local.PostTransfer(TransferOperation.Write, all.Local, all.Remote, pair.Remote.Name, "done"u8);
        var note = await pair.Remote.NextNotificationAsync("the write's notification");

        Assert.Equal("done", note.Text);
        Assert.True(written.AsSpan().SequenceEqual(pair.RemoteBuffer.Span), "the notification arrived before the written bytes");
        Assert.True((await write.Completion.Within("an 8 MiB write")).IsSuccess);
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task PeerGone_TheNextReadFailsWithoutHanging(bool peerFailureHandling)
    {
        Backends.SkipIfUnavailable(TransferBackendKind.Ucx);

        // In a child process, like every UCX fault case (FaultHost).
        var report = await FaultHost.RunAsync(FaultScenario.PeerGoneBeforeTheRead, TransferBackendKind.Ucx, peerFailureHandling, timeoutSeconds: 3, log: output.WriteLine);

        Assert.True(report.One("first").IsSuccess, report.One("first").ToString());
        var result = report.One("afterPeerGone");
        Assert.Equal(TransferStatus.Failed, result.Status);
        if (peerFailureHandling)
        {
            // The endpoint's error handler fails the read at once.
            Assert.Contains(result.Error, new[] { TransferErrorKind.PeerUnreachable, TransferErrorKind.PeerDisconnected });
        }
        else
        {
            // Without it the read is abandoned at its timeout (shared memory cannot tell a dead peer).
            Assert.Contains(result.Error, new[] { TransferErrorKind.Timeout, TransferErrorKind.PeerUnreachable, TransferErrorKind.PeerDisconnected });
        }
        Assert.Equal(0, report.Count("inFlight"));
        Assert.True(report.Check("regionReleased"));
    }
}
