using Dynamo.Transfer.Metadata;

namespace Dynamo.Transfer.Tests;

public sealed class AgentMetadataTests
{
    private static AgentMetadata Sample() => new()
    {
        Name = "prefill-1",
        Incarnation = Guid.NewGuid(),
        ProcessId = 4242,
        Endpoints = [new BackendEndpoint(TransferBackendKind.Tcp, "10.0.0.7:5000"u8.ToArray()), new BackendEndpoint(TransferBackendKind.Ucx, [1, 2, 3, 4])],
        Regions =
        [
            new RegionMetadata { Id = 1, Address = 0x7f0000000000, Length = 1 << 30, Access = RemoteAccess.Read, Keys = [new RegionKey(TransferBackendKind.Ucx, [9, 8, 7])] },
            new RegionMetadata { Id = 2, Address = 0x1000, Length = 4096 },
        ],
    };

    [Fact]
    public void RoundTrip_KeepsEveryField()
    {
        var original = Sample();
        var parsed = AgentMetadata.Parse(original.ToBytes());

        Assert.Equal(original.Name, parsed.Name);
        Assert.Equal(original.Incarnation, parsed.Incarnation);
        Assert.Equal(original.ProcessId, parsed.ProcessId);
        Assert.Equal("10.0.0.7:5000"u8.ToArray(), parsed.EndpointFor(TransferBackendKind.Tcp)!.Address);
        Assert.Equal([1, 2, 3, 4], parsed.EndpointFor(TransferBackendKind.Ucx)!.Address);
        var r1 = parsed.FindRegion(1)!;
        Assert.Equal((0x7f0000000000UL, 1UL << 30, RemoteAccess.Read), (r1.Address, r1.Length, r1.Access));
        Assert.Equal([9, 8, 7], r1.KeyFor(TransferBackendKind.Ucx));
        Assert.Equal(RemoteAccess.ReadWrite, parsed.FindRegion(2)!.Access);
    }

    [Fact]
    public void Parse_EveryTruncation_IsAFormatException()
    {
        var bytes = Sample().ToBytes();
        for (var n = 0; n < bytes.Length; n++)
        {
            Assert.Throws<FormatException>(() => AgentMetadata.Parse(bytes.AsSpan(0, n)));
        }
    }

    [Fact]
    public void Parse_RejectsWrappingRegions_DuplicateIds_TrailingBytesAndBadMagic()
    {
        var wraps = Sample() with { Regions = [new RegionMetadata { Id = 1, Address = ulong.MaxValue - 10, Length = 100 }] };
        var duplicate = Sample() with { Regions = [new RegionMetadata { Id = 1, Address = 0x1000, Length = 1 }, new RegionMetadata { Id = 1, Address = 0x2000, Length = 1 }] };
        var empty = Sample() with { Regions = [new RegionMetadata { Id = 1, Address = 0x1000, Length = 0 }] };

        Assert.Contains("wraps", Assert.Throws<FormatException>(() => AgentMetadata.Parse(wraps.ToBytes())).Message);
        Assert.Contains("twice", Assert.Throws<FormatException>(() => AgentMetadata.Parse(duplicate.ToBytes())).Message);
        Assert.Contains("empty", Assert.Throws<FormatException>(() => AgentMetadata.Parse(empty.ToBytes())).Message);
        Assert.Contains("trailing", Assert.Throws<FormatException>(() => AgentMetadata.Parse([.. Sample().ToBytes(), 0])).Message);
        Assert.Contains("magic", Assert.Throws<FormatException>(() => AgentMetadata.Parse(new byte[64])).Message);
        Assert.False(AgentMetadata.TryParse([1, 2, 3], out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public async Task LoadRemoteMetadata_WithNoSharedBackend_SaysWhichBackendsEachSideHas()
    {
        await using var agent = TransferAgent.Create(new TransferAgentOptions { Name = "a", Backends = "tcp" });
        var ucxOnly = Sample() with { Endpoints = [new BackendEndpoint(TransferBackendKind.Ucx, [1])] };

        var error = Assert.Throws<InvalidOperationException>(() => agent.LoadRemoteMetadata(ucxOnly));
        Assert.Contains("Ucx", error.Message);
        Assert.Contains("Tcp", error.Message);
    }
}
