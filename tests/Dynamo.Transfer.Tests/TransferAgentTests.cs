using Dynamo.Transfer.Memory;

namespace Dynamo.Transfer.Tests;

public sealed class TransferAgentTests
{
    [Fact]
    public void Options_BadValues_AreNamedWithTheirKeys()
    {
        var result = new TransferAgentOptionsValidator().Validate(null, new TransferAgentOptions
        {
            Name = "",
            Backends = "tcp,carrier-pigeon",
            TcpHost = "localhost",
            TcpPort = 70000,
            DefaultTimeout = TimeSpan.Zero,
        });

        Assert.True(result.Failed);
        foreach (var key in new[] { "Dynamo:Transfer:Name", "Dynamo:Transfer:Backends", "carrier-pigeon", "Dynamo:Transfer:TcpHost", "Dynamo:Transfer:TcpPort", "Dynamo:Transfer:DefaultTimeout" })
        {
            Assert.Contains(key, result.FailureMessage);
        }
    }

    [Fact]
    public async Task Metadata_ListsBackendsAndRegions_AndChangesAreAnnounced()
    {
        await using var agent = TransferAgent.Create(new TransferAgentOptions { Name = "meta", Backends = "inprocess,tcp" });
        using var buffer = new NativeBuffer(65536);
        var changes = 0;
        agent.MetadataChanged += _ => changes++;

        var region = agent.RegisterMemory(buffer.Address, buffer.Length, RemoteAccess.Read);
        var metadata = agent.GetLocalMetadata();
        region.Dispose();

        Assert.Equal(["InProcess", "Tcp"], metadata.Endpoints.Select(e => e.Kind.ToString()));
        Assert.Equal((ulong)buffer.Address, Assert.Single(metadata.Regions).Address);
        Assert.Equal(RemoteAccess.Read, metadata.Regions[0].Access);
        Assert.Empty(agent.GetLocalMetadata().Regions);
        Assert.Equal(2, changes);
    }

    [Fact]
    public async Task EstimateCost_GrowsWithBytes_AndIsMeasuredAfterTransfers()
    {
        await using var pair = AgentPair.Create(TransferBackendKind.Tcp, bytes: 8 << 20);
        DescriptorList Local(long n) => new DescriptorList().Add(pair.LocalRegion.Describe(0, n));
        DescriptorList Remote(long n) => new DescriptorList().Add(pair.RemoteMeta.Describe(0, (ulong)n));

        var small = pair.Local.EstimateCost(Local(4096), Remote(4096), pair.Remote.Name)!;
        var large = pair.Local.EstimateCost(Local(8 << 20), Remote(8 << 20), pair.Remote.Name)!;
        Assert.True(large.Duration > small.Duration);
        Assert.False(small.Measured);
        Assert.Null(pair.Local.EstimateCost(Local(4096), Remote(4096), "nobody"));

        for (var i = 0; i < 3; i++)
        {
            await pair.Local.PostTransfer(TransferOperation.Read, Local(4096), Remote(4096), pair.Remote.Name).Completion.Within("a small read");
            await pair.Local.PostTransfer(TransferOperation.Read, Local(8 << 20), Remote(8 << 20), pair.Remote.Name).Completion.Within("a large read");
        }

        var measured = pair.Local.EstimateCost(Local(8 << 20), Remote(8 << 20), pair.Remote.Name)!;
        Assert.True(measured.Measured);
        Assert.Equal(TransferBackendKind.Tcp, measured.Backend);
        Assert.True(measured.Duration > TimeSpan.Zero);
    }

    [Fact]
    public async Task Dispose_EndsInFlightTransfersAsAgentStopped()
    {
        await using var pair = AgentPair.Create(TransferBackendKind.Tcp, bytes: 64 << 20);
        var requests = Enumerable.Range(0, 4).Select(_ => pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 64 << 20)),
            new DescriptorList().Add(pair.RemoteMeta.Describe(0, 64 << 20)), pair.Remote.Name)).ToList();

        await pair.Local.DisposeAsync();

        Assert.All(requests, r => Assert.True(r.Status == TransferStatus.Completed || r.Result!.Error == TransferErrorKind.AgentStopped, r.ToString()));
        var late = await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096)),
            new DescriptorList().Add(pair.RemoteMeta.Describe(0, 4096)), pair.Remote.Name).Completion;
        Assert.Equal(TransferErrorKind.AgentStopped, late.Error);
    }

    [Fact]
    public async Task InProcessAndTcp_PeerInTheSameProcessUsesTheCopy()
    {
        await using var pair = AgentPair.Create(TransferBackendKind.Tcp, configure: o => o.Backends = "inprocess,tcp");
        Assert.Equal(TransferBackendKind.InProcess, pair.Local.GetBackendFor(pair.Remote.Name));
    }

    [SkippableFact]
    public async Task Ucx_Loaded_ItsMemoryHooksAreOff_InTheNativeEnvironment()
    {
        Backends.SkipIfUnavailable(TransferBackendKind.Ucx);
        await using var agent = TransferAgent.Create(AgentPair.Options(TransferBackendKind.Ucx, "hooks-check"));

        // UCX reads these from the native environment when libucs loads; .NET's copy would not reach it.
        foreach (var (name, value) in Dynamo.Transfer.Backends.Ucx.UcxNative.MemoryHookSettings)
        {
            var native = Dynamo.Transfer.Backends.Ucx.UcxNative.getenv(name);
            Assert.True(native != 0, $"{name} is not set in the native environment");
            Assert.Equal(value, System.Runtime.InteropServices.Marshal.PtrToStringUTF8(native));
        }
    }

    [SkippableFact]
    public async Task Ucx_Loaded_NullReferenceStillAManagedException()
    {
        Backends.SkipIfUnavailable(TransferBackendKind.Ucx);
        await using var agent = TransferAgent.Create(AgentPair.Options(TransferBackendKind.Ucx, "segv-check"));
        string? nothing = agent.Name.Length < 0 ? "x" : null;

        // Without UCX_ERROR_SIGNALS cleared, UCX's SIGSEGV handler would kill the test host here.
        Assert.Throws<NullReferenceException>(() => nothing!.Length);
    }
}
