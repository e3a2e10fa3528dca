using System.Text.Json.Serialization;
using Dynamo.Transfer.Memory;

namespace Dynamo.Transfer.Tests;

/// <summary>How one transfer stood when a scenario looked at it.</summary>
public sealed record Observed(TransferStatus Status, TransferErrorKind Error, string? Message)
{
    public static Observed Of(TransferResult result) => new(result.Status, result.Error, result.Message);

    /// <summary>The request as it stands now: <see cref="TransferStatus.InProgress"/> with no error while it runs.</summary>
    public static Observed Of(TransferRequest request) =>
        request.Result is { } result ? Of(result) : new Observed(TransferStatus.InProgress, TransferErrorKind.None, null);

    [JsonIgnore]
    public bool IsSuccess => Status == TransferStatus.Completed;

    public override string ToString() => IsSuccess ? "Completed" : $"{Status} ({Error}): {Message}";
}

/// <summary>
/// What a fault scenario saw: the transfers it ran (by name, in order), facts it checked (by name) and counts. The
/// tests assert on it; the scenario itself asserts nothing, so it can run in a child process (see
/// <see cref="FaultHost"/>) and report what happened whether the outcome is right or wrong.
/// </summary>
public sealed class FaultReport
{
    public Dictionary<string, List<Observed>> Transfers { get; init; } = [];

    public Dictionary<string, bool> Checks { get; init; } = [];

    public Dictionary<string, long> Counts { get; init; } = [];

    public Observed One(string name) => Transfers.TryGetValue(name, out var list) && list.Count == 1
        ? list[0]
        : throw new KeyNotFoundException($"the report has no single transfer '{name}' (it has: {string.Join(", ", Transfers.Keys)})");

    public List<Observed> All(string name) => Transfers.TryGetValue(name, out var list)
        ? list
        : throw new KeyNotFoundException($"the report has no transfers '{name}' (it has: {string.Join(", ", Transfers.Keys)})");

    public bool Check(string name) => Checks.TryGetValue(name, out var value)
        ? value
        : throw new KeyNotFoundException($"the report has no check '{name}' (it has: {string.Join(", ", Checks.Keys)})");

    public long Count(string name) => Counts.TryGetValue(name, out var value)
        ? value
        : throw new KeyNotFoundException($"the report has no count '{name}' (it has: {string.Join(", ", Counts.Keys)})");

    internal void Add(string name, Observed observed)
    {
        if (!Transfers.TryGetValue(name, out var list))
        {
            Transfers[name] = list = [];
        }

        list.Add(observed);
    }
}

public enum FaultScenario
{
    PeerGoneBeforeTheRead,
    PeerGoneDuringTransfers,
    PeerRestarted,
    Cancel,
    DeregisterLocalRegion,

    /// <summary>FaultHost's own test: the child aborts (SIGABRT) after printing a line of its own.</summary>
    SelfTestAbort,

    /// <summary>FaultHost's own test: the child aborts after printing the message of the first known UCX abort.</summary>
    SelfTestKnownUcxAbort,
}

/// <summary>
/// The transfer fault cases: a peer that stops before or during transfers, a peer restarted under the same name,
/// cancellation mid-flight, a local region deregistered under running transfers. On UCX these run in a child process
/// (<see cref="FaultHost"/>), because a failure inside libucp aborts the process that runs it.
/// </summary>
public static class FaultScenarios
{
    /// <summary>Where a scenario has got to; the child process prints it to stderr, so an abort shows the step it hit.</summary>
    internal static Action<string>? Trace { get; set; }

    private static void Step(string what) => Trace?.Invoke(what);

    public static Task<FaultReport> RunAsync(FaultScenario scenario, TransferBackendKind kind, bool peerFailureHandling, TimeSpan timeout) => scenario switch
    {
        FaultScenario.PeerGoneBeforeTheRead => PeerGoneBeforeTheReadAsync(kind, peerFailureHandling, timeout),
        FaultScenario.PeerGoneDuringTransfers => PeerGoneDuringTransfersAsync(kind, peerFailureHandling, timeout),
        FaultScenario.PeerRestarted => PeerRestartedAsync(kind, peerFailureHandling, timeout),
        FaultScenario.Cancel => CancelAsync(kind, peerFailureHandling),
        FaultScenario.DeregisterLocalRegion => DeregisterLocalRegionAsync(kind, peerFailureHandling),
        FaultScenario.SelfTestAbort => Abort("self-test: aborting on purpose"),
        FaultScenario.SelfTestKnownUcxAbort => Abort(FaultHost.KnownUcxAborts[0].Signature),
        _ => throw new ArgumentOutOfRangeException(nameof(scenario), scenario, "unknown fault scenario"),
    };

    private static Task<FaultReport> Abort(string message)
    {
        Console.Error.WriteLine(message);
        Console.Error.Flush();
        Environment.FailFast(message); // abort(): SIGABRT, like a failed assertion inside UCX
        return Task.FromResult(new FaultReport());
    }

    private static Action<TransferAgentOptions> Configure(bool peerFailureHandling, TimeSpan? timeout = null) => o =>
    {
        o.UcxPeerFailureHandling = peerFailureHandling;
        if (timeout is { } t)
        {
            o.DefaultTimeout = t;
        }
    };

    /// <summary>A read succeeds, the peer stops, the next read fails (without hanging) and the local region is free.</summary>
    private static async Task<FaultReport> PeerGoneBeforeTheReadAsync(TransferBackendKind kind, bool peerFailureHandling, TimeSpan timeout)
    {
        var report = new FaultReport();
        await using var pair = AgentPair.Create(kind, configure: Configure(peerFailureHandling, timeout));
        var local = new DescriptorList().Add(pair.LocalRegion.Describe(0, 65536));
        var remote = new DescriptorList().Add(pair.RemoteMeta.Describe(0, 65536));
        report.Add("first", Observed.Of(await pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name).Completion.Within("a first read")));
        report.Checks["firstCopied"] = pair.RemoteBuffer.Slice(0, 65536).SequenceEqual(pair.LocalBuffer.Slice(0, 65536));

        Step("stopping the remote agent");
        await pair.DisposeRemoteAsync();
        Step("remote agent stopped; reading from it");
        report.Add("afterPeerGone", Observed.Of(await pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name).Completion.Within("a read from a stopped peer")));
        report.Counts["inFlight"] = pair.Local.InFlightCount;
        pair.LocalRegion.Dispose(); // returns only when nothing holds the region
        report.Checks["regionReleased"] = true;
        Step("stopping the agents");
        return report;
    }

    /// <summary>16 whole-region reads, then the peer stops: every read ends (completed or failed) and the region is free.</summary>
    private static async Task<FaultReport> PeerGoneDuringTransfersAsync(TransferBackendKind kind, bool peerFailureHandling, TimeSpan timeout)
    {
        var report = new FaultReport();
        await using var pair = AgentPair.Create(kind, bytes: 32 << 20, configure: Configure(peerFailureHandling, timeout));
        var requests = new List<TransferRequest>();
        for (var i = 0; i < 16; i++)
        {
            requests.Add(pair.Local.PostTransfer(TransferOperation.Read,
                new DescriptorList().Add(pair.LocalRegion.Describe(0, 32 << 20)),
                new DescriptorList().Add(pair.RemoteMeta.Describe(0, 32 << 20)), pair.Remote.Name));
        }

        Step("16 reads posted; stopping the remote agent");
        await pair.DisposeRemoteAsync();
        Step("remote agent stopped; waiting for the reads");
        var results = await Task.WhenAll(requests.Select(r => r.Completion)).Within("16 reads racing the peer's shutdown");
        foreach (var result in results)
        {
            report.Add("reads", Observed.Of(result));
        }

        // Every read asks for the same bytes, so a read reported complete means the local buffer holds them.
        report.Checks["completedReadsCopied"] = !results.Any(r => r.IsSuccess) || pair.RemoteBuffer.Span.SequenceEqual(pair.LocalBuffer.Span);

        report.Counts["inFlight"] = pair.Local.InFlightCount;
        pair.LocalRegion.Dispose();
        report.Checks["regionReleased"] = true;
        Step("stopping the agents");
        return report;
    }

    /// <summary>The peer restarts under the same name: the old metadata fails, the new metadata works.</summary>
    private static async Task<FaultReport> PeerRestartedAsync(TransferBackendKind kind, bool peerFailureHandling, TimeSpan timeout)
    {
        var report = new FaultReport();
        await using var pair = AgentPair.Create(kind, configure: Configure(peerFailureHandling, timeout));
        var port = kind == TransferBackendKind.Tcp ? int.Parse(pair.Remote.GetLocalMetadata().EndpointFor(TransferBackendKind.Tcp)!.ToString().Split(':')[^1]) : 0;
        var name = pair.Remote.Name;
        Step("stopping the remote agent");
        await pair.DisposeRemoteAsync();
        Step("remote agent stopped; starting it again under the same name");

        // Same name (and for TCP the same port), new incarnation.
        var options = AgentPair.Options(kind, name);
        Configure(peerFailureHandling, timeout)(options);
        options.TcpPort = port;
        await using var restarted = TransferAgent.Create(options);
        using var buffer = new NativeBuffer(1 << 20, seed: 9);
        using var region = restarted.RegisterMemory(buffer.Address, buffer.Length);
        var local = new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096));
        var remote = new DescriptorList().Add(pair.RemoteMeta.Describe(0, 4096));

        report.Add("stale", Observed.Of(await pair.Local.PostTransfer(TransferOperation.Read, local, remote, name).Completion.Within("a read with stale metadata")));
        report.Checks["staleMetadataDropped"] = pair.Local.GetRemoteMetadata(name) is null;

        pair.Local.LoadRemoteMetadata(restarted.GetLocalMetadata().ToBytes());
        report.Add("fresh", Observed.Of(await pair.Local.PostTransfer(TransferOperation.Read, local,
            new DescriptorList().Add(pair.Local.GetRemoteMetadata(name)!.FindRegion(region.Id)!.Describe(0, 4096)), name).Completion.Within("a read with fresh metadata")));
        report.Checks["freshCopied"] = buffer.Slice(0, 4096).SequenceEqual(pair.LocalBuffer.Slice(0, 4096));
        Step("stopping the agents");
        return report;
    }

    /// <summary>
    /// Four reads of 4 GiB each, cancelled right after they are posted; a read posted with the cancelled token; then a
    /// read on the same pair.
    /// </summary>
    private static async Task<FaultReport> CancelAsync(TransferBackendKind kind, bool peerFailureHandling)
    {
        var report = new FaultReport();
        await using var pair = AgentPair.Create(kind, bytes: 64 << 20, configure: Configure(peerFailureHandling));
        using var cts = new CancellationTokenSource();

        // Each read asks for the whole 64 MiB region 64 times over (4 GiB, seconds of copying on any backend here),
        // and the cancellation follows the posts at once: a read that reports anything but Cancelled ignored it.
        var local = new DescriptorList();
        var remote = new DescriptorList();
        for (var i = 0; i < 64; i++)
        {
            local.Add(pair.LocalRegion.Describe(0, 64 << 20));
            remote.Add(pair.RemoteMeta.Describe(0, 64 << 20));
        }

        var requests = Enumerable.Range(0, 4).Select(_ =>
            pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name, cancellationToken: cts.Token)).ToList();
        Step("4 reads posted; cancelling them");
        await cts.CancelAsync();
        foreach (var result in await Task.WhenAll(requests.Select(r => r.Completion)).Within("cancelled reads"))
        {
            report.Add("cancelled", Observed.Of(result));
        }

        report.Add("precancelled", Observed.Of(await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096)),
            new DescriptorList().Add(pair.RemoteMeta.Describe(0, 4096)), pair.Remote.Name, cancellationToken: cts.Token).Completion.Within("a read posted cancelled")));
        report.Counts["inFlight"] = pair.Local.InFlightCount;

        // The agent still works afterwards (a new connection or endpoint replaces a closed one).
        pair.LocalBuffer.Slice(0, 4096).Clear();
        report.Add("after", Observed.Of(await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096)),
            new DescriptorList().Add(pair.RemoteMeta.Describe(0, 4096)), pair.Remote.Name).Completion.Within("a read after cancellations")));
        report.Checks["afterCopied"] = pair.RemoteBuffer.Slice(0, 4096).SequenceEqual(pair.LocalBuffer.Slice(0, 4096));
        Step("stopping the agents");
        return report;
    }

    /// <summary>Four whole-region reads, then the local region is deregistered: when that returns, every read has ended.</summary>
    private static async Task<FaultReport> DeregisterLocalRegionAsync(TransferBackendKind kind, bool peerFailureHandling)
    {
        var report = new FaultReport();
        await using var pair = AgentPair.Create(kind, bytes: 64 << 20, configure: Configure(peerFailureHandling));
        var requests = Enumerable.Range(0, 4).Select(_ => pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 64 << 20)),
            new DescriptorList().Add(pair.RemoteMeta.Describe(0, 64 << 20)), pair.Remote.Name)).ToList();

        Step("4 reads posted; deregistering the local region");
        pair.LocalRegion.Dispose();
        Step("local region deregistered");

        // Read the requests' state the moment Dispose returned, before anything else can finish them.
        foreach (var request in requests)
        {
            report.Add("reads", Observed.Of(request));
        }

        report.Counts["inFlight"] = pair.Local.InFlightCount;
        Step("stopping the agents");
        return report;
    }
}
