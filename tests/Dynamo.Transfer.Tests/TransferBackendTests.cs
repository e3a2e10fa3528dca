using System.Text;
using Dynamo.Transfer.Memory;
using Xunit.Abstractions;

namespace Dynamo.Transfer.Tests;

/// <summary>What every backend must do: move registered bytes exactly, deliver notifications, and fail cleanly.</summary>
public sealed class TransferBackendTests(ITestOutputHelper output)
{
    private static (DescriptorList Local, DescriptorList Remote, List<(long LocalOffset, long RemoteOffset, long Length)> Pairs) Scattered(
        AgentPair pair, int count, int seed, int maxLength = 20_000)
    {
        // Non-overlapping, shuffled, non-adjacent ranges: nothing merges, order differs on each side.
        var random = new Random(seed);
        var slot = pair.LocalBuffer.Length / count;
        var localSlots = Enumerable.Range(0, count).OrderBy(_ => random.Next()).ToArray();
        var remoteSlots = Enumerable.Range(0, count).OrderBy(_ => random.Next()).ToArray();
        var local = new DescriptorList();
        var remote = new DescriptorList();
        var pairs = new List<(long, long, long)>();
        for (var i = 0; i < count; i++)
        {
            long length = random.Next(1, (int)Math.Min(maxLength, slot - 64));
            var lo = (localSlots[i] * slot) + random.Next(1, 32);
            var ro = (remoteSlots[i] * slot) + random.Next(1, 32);
            local.Add(pair.LocalRegion.Describe(lo, length));
            remote.Add(pair.RemoteMeta.Describe((ulong)ro, (ulong)length));
            pairs.Add((lo, ro, length));
        }

        return (local, remote, pairs);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Read_ScatteredDescriptors_CopiesExactlyThoseBytes(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);
        var before = pair.LocalBuffer.Span.ToArray();
        var (local, remote, pairs) = Scattered(pair, 64, seed: 7);

        var request = pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name);
        var result = await request.Completion.Within("a scattered read");

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(kind, result.Backend);
        Assert.Equal(64, request.LocalDescriptorCount);
        var expected = before.ToArray();
        foreach (var (lo, ro, length) in pairs)
        {
            pair.RemoteBuffer.Slice(ro, length).CopyTo(expected.AsSpan((int)lo, (int)length));
        }

        Assert.True(expected.AsSpan().SequenceEqual(pair.LocalBuffer.Span), "local buffer differs from the expected bytes (described ranges copied, the rest untouched)");
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Write_ScatteredDescriptors_CopiesExactlyThoseBytes(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);
        var before = pair.RemoteBuffer.Span.ToArray();
        var (local, remote, pairs) = Scattered(pair, 48, seed: 11);

        var result = await pair.Local.PostTransfer(TransferOperation.Write, local, remote, pair.Remote.Name).Completion.Within("a scattered write");

        Assert.True(result.IsSuccess, result.ToString());
        var expected = before.ToArray();
        foreach (var (lo, ro, length) in pairs)
        {
            pair.LocalBuffer.Slice(lo, length).CopyTo(expected.AsSpan((int)ro, (int)length));
        }

        Assert.True(expected.AsSpan().SequenceEqual(pair.RemoteBuffer.Span), "remote buffer differs from the expected bytes");
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Read_AdjacentBlocks_MergeIntoOneDescriptorAndCopy(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);
        const int block = 64 * 1024;
        var local = new DescriptorList();
        var remote = new DescriptorList();
        for (var b = 0; b < 32; b++)
        {
            local.Add(pair.LocalRegion.Describe((10 + b) * (long)block, block));
            remote.Add(pair.RemoteMeta.Describe((ulong)(20 + b) * block, block));
        }

        var request = pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name);
        var result = await request.Completion.Within("a read of 32 adjacent blocks");

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(1, request.LocalDescriptorCount);
        Assert.Equal(1, request.RemoteDescriptorCount);
        Assert.Equal(32, local.Count); // the caller's list is left as it was
        Assert.True(pair.RemoteBuffer.Slice(20L * block, 32L * block).SequenceEqual(pair.LocalBuffer.Slice(10L * block, 32L * block)));
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Read_ListsSplitDifferently_PairsBytesInOrder(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);
        // Local: 3 ranges of 1000; remote: 5 ranges of 600, not adjacent. Byte n of one pairs with byte n of the other.
        var local = new DescriptorList().Add(pair.LocalRegion.Describe(0, 1000)).Add(pair.LocalRegion.Describe(5000, 1000)).Add(pair.LocalRegion.Describe(9000, 1000));
        var remote = new DescriptorList();
        for (var i = 0; i < 5; i++)
        {
            remote.Add(pair.RemoteMeta.Describe((ulong)(i * 10_000) + 3, 600));
        }

        var result = await pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name).Completion.Within("a read with differently split lists");

        Assert.True(result.IsSuccess, result.ToString());
        var source = new byte[3000];
        for (var i = 0; i < 5; i++)
        {
            pair.RemoteBuffer.Slice((i * 10_000) + 3, 600).CopyTo(source.AsSpan(i * 600));
        }

        var received = new byte[3000];
        pair.LocalBuffer.Slice(0, 1000).CopyTo(received);
        pair.LocalBuffer.Slice(5000, 1000).CopyTo(received.AsSpan(1000));
        pair.LocalBuffer.Slice(9000, 1000).CopyTo(received.AsSpan(2000));
        Assert.Equal(source, received);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Read_LargeRange_CopiesAllBytes(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind, bytes: 48 << 20);
        var local = new DescriptorList().Add(pair.LocalRegion.Describe(0, 48 << 20));
        var remote = new DescriptorList().Add(pair.RemoteMeta.Describe(0, 48 << 20));

        var result = await pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name).Completion.Within("a 48 MiB read");

        Assert.True(result.IsSuccess, result.ToString());
        Assert.True(pair.RemoteBuffer.Span.SequenceEqual(pair.LocalBuffer.Span), "48 MiB read differs");
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task ConcurrentTransfers_BothDirections_AllComplete(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind, bytes: 8 << 20);
        const int chunk = 128 * 1024;
        var requests = new List<TransferRequest>();
        for (var i = 0; i < 32; i++)
        {
            // Even chunks are read into the first half, odd chunks are written from the second half.
            var op = i % 2 == 0 ? TransferOperation.Read : TransferOperation.Write;
            var localOffset = (op == TransferOperation.Read ? 0 : 4 << 20) + ((i / 2) * (long)chunk);
            var remoteOffset = (op == TransferOperation.Read ? 0 : 4 << 20) + ((i / 2) * (long)chunk);
            requests.Add(pair.Local.PostTransfer(op,
                new DescriptorList().Add(pair.LocalRegion.Describe(localOffset, chunk)),
                new DescriptorList().Add(pair.RemoteMeta.Describe((ulong)remoteOffset, chunk)),
                pair.Remote.Name));
        }

        var results = await Task.WhenAll(requests.Select(r => r.Completion)).Within("32 concurrent transfers");

        Assert.All(results, r => Assert.True(r.IsSuccess, r.ToString()));
        Assert.True(pair.RemoteBuffer.Slice(0, 16L * chunk).SequenceEqual(pair.LocalBuffer.Slice(0, 16L * chunk)));
        Assert.True(pair.RemoteBuffer.Slice(4 << 20, 16L * chunk).SequenceEqual(pair.LocalBuffer.Slice(4 << 20, 16L * chunk)));
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Read_WithNotification_PeerIsNotifiedWithTheMessage(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);
        var local = new DescriptorList().Add(pair.LocalRegion.Describe(0, 100_000));
        var remote = new DescriptorList().Add(pair.RemoteMeta.Describe(0, 100_000));

        var result = await pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name, "unpin req-1"u8).Completion.Within("a read with a notification");
        var note = await pair.Remote.NextNotificationAsync("the read's notification at the remote agent");

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(pair.Local.Name, note.FromAgent);
        Assert.Equal("unpin req-1", note.Text);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Write_WithNotification_DataIsInPlaceWhenTheNotificationArrives(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind, bytes: 16 << 20);
        var local = new DescriptorList().Add(pair.LocalRegion.Describe(0, 16 << 20));
        var remote = new DescriptorList().Add(pair.RemoteMeta.Describe(0, 16 << 20));
        var expected = pair.LocalBuffer.Span.ToArray();

        var request = pair.Local.PostTransfer(TransferOperation.Write, local, remote, pair.Remote.Name, "written"u8);
        var note = await pair.Remote.NextNotificationAsync("the write's notification");

        Assert.Equal("written", note.Text);
        Assert.True(expected.AsSpan().SequenceEqual(pair.RemoteBuffer.Span), "the notification arrived before the data");
        Assert.True((await request.Completion.Within("the write")).IsSuccess);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task SendNotification_BothWays_ArriveInOrder(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);

        for (var i = 0; i < 5; i++)
        {
            Assert.True((await pair.Local.SendNotificationAsync(pair.Remote.Name, Encoding.UTF8.GetBytes($"n{i}")).Within("a notification send")).IsSuccess);
        }

        Assert.True((await pair.Remote.SendNotificationAsync(pair.Local.Name, "back"u8.ToArray()).Within("a notification back")).IsSuccess);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal($"n{i}", (await pair.Remote.NextNotificationAsync($"notification n{i}")).Text);
        }

        Assert.Equal("back", (await pair.Local.NextNotificationAsync("the notification back")).Text);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task RemoteDescriptorOutsideRegion_FailsBeforeMovingAnything(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);
        var before = pair.LocalBuffer.Span.ToArray();
        var meta = pair.RemoteMeta;
        var local = new DescriptorList().Add(pair.LocalRegion.Describe(0, 8192));
        var remote = new DescriptorList().Add(meta.Id, meta.Address + meta.Length - 4096, 8192);

        var result = await pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name).Completion.Within("a read past the remote region");

        Assert.Equal(TransferStatus.Failed, result.Status);
        Assert.Equal(TransferErrorKind.InvalidDescriptor, result.Error);
        Assert.Contains("outside region", result.Message);
        Assert.True(before.AsSpan().SequenceEqual(pair.LocalBuffer.Span));
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task LocalDescriptorInUnregisteredRegion_FailsAsUnregisteredMemory(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);
        using var stray = new NativeBuffer(8192, seed: 3);
        var local = new DescriptorList().Add(999, (ulong)stray.Address, 4096);
        var remote = new DescriptorList().Add(pair.RemoteMeta.Describe(0, 4096));

        var result = await pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name).Completion.Within("a read into unregistered memory");

        Assert.Equal(TransferErrorKind.UnregisteredMemory, result.Error);

        // A deregistered region is unregistered memory too.
        var region = pair.Local.RegisterMemory(stray.Address, stray.Length);
        region.Dispose();
        local = new DescriptorList().Add(region.Describe(0, 4096));
        result = await pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name).Completion.Within("a read into a deregistered region");
        Assert.Equal(TransferErrorKind.UnregisteredMemory, result.Error);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task BadRequests_FailWithTheirReason(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);
        var local = new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096));

        var unknown = await pair.Local.PostTransfer(TransferOperation.Read, local, new DescriptorList().Add(pair.RemoteMeta.Describe(0, 4096)), "nobody").Completion;
        var mismatched = await pair.Local.PostTransfer(TransferOperation.Read, local, new DescriptorList().Add(pair.RemoteMeta.Describe(0, 4000)), pair.Remote.Name).Completion;
        var noRegion = await pair.Local.PostTransfer(TransferOperation.Read, local, new DescriptorList().Add(77, pair.RemoteMeta.Address, 4096), pair.Remote.Name).Completion;
        var outsideLocal = await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Id, (ulong)pair.LocalRegion.Address + (ulong)pair.LocalRegion.Length - 100, 4096),
            new DescriptorList().Add(pair.RemoteMeta.Describe(0, 4096)), pair.Remote.Name).Completion;

        Assert.Equal(TransferErrorKind.UnknownAgent, unknown.Error);
        Assert.Equal(TransferErrorKind.InvalidDescriptor, mismatched.Error);
        Assert.Equal(TransferErrorKind.InvalidDescriptor, noRegion.Error);
        Assert.Equal(TransferErrorKind.InvalidDescriptor, outsideLocal.Error);
        Assert.Equal(0, pair.Local.InFlightCount);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task WriteToReadOnlyRegion_IsDenied(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);
        using var readOnly = new NativeBuffer(8192, seed: 5);
        var before = readOnly.Span.ToArray();
        var region = pair.Remote.RegisterMemory(readOnly.Address, readOnly.Length, RemoteAccess.Read);
        pair.Local.LoadRemoteMetadata(pair.Remote.GetLocalMetadata());
        var meta = pair.Local.GetRemoteMetadata(pair.Remote.Name)!.FindRegion(region.Id)!;

        var write = await pair.Local.PostTransfer(TransferOperation.Write,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096)), new DescriptorList().Add(meta.Describe(0, 4096)), pair.Remote.Name).Completion.Within("a write to a read-only region");
        var read = await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096)), new DescriptorList().Add(meta.Describe(0, 4096)), pair.Remote.Name).Completion.Within("a read of a read-only region");

        Assert.Equal(TransferErrorKind.AccessDenied, write.Error);
        Assert.True(read.IsSuccess, read.ToString());
        Assert.True(before.AsSpan().SequenceEqual(readOnly.Span));
        region.Dispose();
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.ServerValidated), MemberType = typeof(Backends))]
    public async Task ForgedMetadata_ServingSideRefusesRangesItNeverRegistered(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);
        // A peer that claims a region ten times larger than the one registered: the poster's check passes,
        // the serving agent's check must not.
        var real = pair.Remote.GetLocalMetadata();
        var forged = real with { Regions = [.. real.Regions.Select(r => r with { Length = r.Length * 10 })] };
        pair.Local.LoadRemoteMetadata(forged.ToBytes());
        var meta = pair.Local.GetRemoteMetadata(pair.Remote.Name)!.FindRegion(pair.RemoteRegion.Id)!;
        var before = pair.LocalBuffer.Span.ToArray();

        var read = await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096)),
            new DescriptorList().Add(meta.Describe((ulong)pair.RemoteBuffer.Length + 4096, 4096)), pair.Remote.Name).Completion.Within("a read outside the real region");
        var write = await pair.Local.PostTransfer(TransferOperation.Write,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096)),
            new DescriptorList().Add(meta.Describe((ulong)pair.RemoteBuffer.Length - 100, 4096)), pair.Remote.Name).Completion.Within("a write straddling the real region's end");
        var good = await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096)),
            new DescriptorList().Add(meta.Describe(0, 4096)), pair.Remote.Name).Completion.Within("a valid read on the same connection");

        Assert.Equal(TransferErrorKind.InvalidDescriptor, read.Error);
        Assert.Contains("refused", read.Message);
        Assert.Equal(TransferErrorKind.InvalidDescriptor, write.Error);
        Assert.True(before.AsSpan(4096).SequenceEqual(pair.LocalBuffer.Span[4096..]));
        Assert.True(good.IsSuccess, good.ToString());
    }

    // The fault cases run through FaultHost: on UCX each runs in a child process (an abort inside libucp ends the
    // child and fails the test with the child's output, instead of taking the test run down), on the other backends
    // in this process. UCX runs them with peer failure handling on, the product default; UcxModeTests covers off.

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task PeerGone_BeforeTheRead_FailsWithoutHanging(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);

        var report = await FaultHost.RunAsync(FaultScenario.PeerGoneBeforeTheRead, kind, log: output.WriteLine);

        Assert.True(report.One("first").IsSuccess, report.One("first").ToString());
        Assert.True(report.Check("firstCopied"), "the first read did not copy the remote bytes");
        var result = report.One("afterPeerGone");
        Assert.Equal(TransferStatus.Failed, result.Status);

        // With peer failure handling (UCX's default) a dead peer fails the read at once, not at its timeout.
        Assert.Contains(result.Error, kind == TransferBackendKind.Ucx
            ? new[] { TransferErrorKind.PeerUnreachable, TransferErrorKind.PeerDisconnected }
            : new[] { TransferErrorKind.StaleMetadata, TransferErrorKind.PeerUnreachable, TransferErrorKind.PeerDisconnected, TransferErrorKind.Timeout });
        Assert.Equal(0, report.Count("inFlight"));
        Assert.True(report.Check("regionReleased")); // Dispose of the local region returned: nothing holds it
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task PeerGone_DuringTransfers_EveryTransferEnds(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);

        var report = await FaultHost.RunAsync(FaultScenario.PeerGoneDuringTransfers, kind, timeoutSeconds: 10, log: output.WriteLine);

        // Some may have finished before the peer stopped; the rest fail as the peer's going away, not otherwise.
        var reads = report.All("reads");
        Assert.Equal(16, reads.Count);
        var peerGone = kind == TransferBackendKind.Ucx
            ? new[] { TransferErrorKind.PeerDisconnected, TransferErrorKind.PeerUnreachable } // peer failure handling: no waiting for the timeout
            : new[] { TransferErrorKind.PeerDisconnected, TransferErrorKind.PeerUnreachable, TransferErrorKind.StaleMetadata, TransferErrorKind.Timeout };
        Assert.All(reads, r => Assert.True(r.IsSuccess || (r.Status == TransferStatus.Failed && peerGone.Contains(r.Error)), r.ToString()));
        Assert.True(report.Check("completedReadsCopied"), "a read reported complete but the local buffer does not hold the remote bytes");
        if (kind == TransferBackendKind.Ucx)
        {
            // 512 MiB over UCX's TCP transport on one host takes seconds; the peer stops within milliseconds.
            Assert.Contains(reads, r => !r.IsSuccess);
        }
        Assert.Equal(0, report.Count("inFlight"));
        Assert.True(report.Check("regionReleased"));
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task PeerRestarted_OldMetadataIsStale(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);

        var report = await FaultHost.RunAsync(FaultScenario.PeerRestarted, kind, log: output.WriteLine);

        var stale = report.One("stale");
        Assert.Equal(TransferStatus.Failed, stale.Status);
        if (kind != TransferBackendKind.Ucx)
        {
            // UCX cannot tell a restarted peer from a dead one: the old worker address just stops answering.
            Assert.Equal(TransferErrorKind.StaleMetadata, stale.Error);
            Assert.True(report.Check("staleMetadataDropped"), "the stale metadata was kept"); // dropped until loaded again
        }
        else
        {
            Assert.Contains(stale.Error, new[] { TransferErrorKind.PeerUnreachable, TransferErrorKind.PeerDisconnected });
        }

        Assert.True(report.One("fresh").IsSuccess, report.One("fresh").ToString());
        Assert.True(report.Check("freshCopied"), "the read with fresh metadata did not copy the restarted peer's bytes");
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Cancel_EndsTheTransferAsCancelled(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);

        var report = await FaultHost.RunAsync(FaultScenario.Cancel, kind, log: output.WriteLine);

        // 4 GiB per read, cancelled right after posting: a read that reports anything but Cancelled ignored it.
        Assert.Equal(4, report.All("cancelled").Count);
        Assert.All(report.All("cancelled"), r => Assert.Equal((TransferStatus.Cancelled, TransferErrorKind.Cancelled), (r.Status, r.Error)));
        Assert.Equal(TransferStatus.Cancelled, report.One("precancelled").Status);
        Assert.Equal(0, report.Count("inFlight"));

        // The agent still works afterwards (a new connection or endpoint replaces a closed one).
        Assert.True(report.One("after").IsSuccess, report.One("after").ToString());
        Assert.True(report.Check("afterCopied"), "the read after the cancellations did not copy the bytes");
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task DeregisteringALocalRegion_EndsTransfersUsingIt(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);

        var report = await FaultHost.RunAsync(FaultScenario.DeregisterLocalRegion, kind, log: output.WriteLine);

        // Dispose returned, so no transfer holds the region: every one has ended, completed or stopped.
        var reads = report.All("reads");
        Assert.Equal(4, reads.Count);
        Assert.All(reads, r => Assert.NotEqual(TransferStatus.InProgress, r.Status));
        Assert.All(reads, r => Assert.True(r.IsSuccess || r.Error == TransferErrorKind.AgentStopped, r.ToString()));
        Assert.Equal(0, report.Count("inFlight"));
        if (kind == TransferBackendKind.Ucx)
        {
            // 256 MiB over UCX's TCP transport takes about a second: the deregistration stopped them, it did not wait them out.
            Assert.Contains(reads, r => r.Error == TransferErrorKind.AgentStopped);
        }
    }
}
