using System.Security.Cryptography;
using Dynamo.Transfer.Memory;
using Dynamo.Transfer.Metadata;
using Dynamo.Transfer.Security;

namespace Dynamo.Transfer.Tests;

/// <summary>
/// Reads of granted memory (a prefill's pinned KV) over the backends whose serving side checks them: only with the
/// grant's token, only the granted ranges, only for the binding it was issued for, only once; everything else is
/// refused, counted, and moves no byte. And the TCP shared-key handshake, and UCX keys sealed in the metadata.
/// </summary>
public sealed class TransferAuthorizationTests
{
    private const int Block = 4096;

    private static readonly byte[] Binding = SHA256.HashData("prompt tokens of the victim"u8);

    /// <summary>A remote region readable only with a grant, loaded into the local agent's view.</summary>
    private sealed class Granted : IAsyncDisposable
    {
        public Granted(TransferBackendKind kind, Action<TransferAgentOptions>? configure = null)
        {
            Pair = AgentPair.Create(kind, bytes: 64 * Block, configure);
            Buffer = new NativeBuffer(32 * Block, seed: 9);
            Region = Pair.Remote.RegisterMemory(Buffer.Address, Buffer.Length, RemoteAccess.Read, requireGrant: true);
            Pair.Local.LoadRemoteMetadata(Pair.Remote.GetLocalMetadata().ToBytes());
            Meta = Pair.Local.GetRemoteMetadata(Pair.Remote.Name)!.FindRegion(Region.Id)!;
        }

        public AgentPair Pair { get; }

        public NativeBuffer Buffer { get; }

        public MemoryRegion Region { get; }

        public RegionMetadata Meta { get; }

        /// <summary>Grants blocks 2, 3 and 7 of the region.</summary>
        public TransferGrant Grant() => Pair.Remote.IssueGrant(
            new DescriptorList().Add(Region.Describe(2 * Block, 2 * Block)).Add(Region.Describe(7 * Block, Block)), Binding);

        /// <summary>Reads the given remote blocks into the local region's first blocks, presenting <paramref name="credential"/>.</summary>
        public Task<TransferResult> ReadAsync(TransferCredential? credential, params int[] blocks)
        {
            var local = new DescriptorList();
            var remote = new DescriptorList();
            for (var i = 0; i < blocks.Length; i++)
            {
                local.Add(Pair.LocalRegion.Describe(i * Block, Block));
                remote.Add(Meta.Describe((ulong)(blocks[i] * Block), Block));
            }

            return Pair.Local.PostTransfer(TransferOperation.Read, local, remote, Pair.Remote.Name, credential).Completion.Within("a read of granted memory");
        }

        public bool LocalUntouched(byte[] before) => before.AsSpan().SequenceEqual(Pair.LocalBuffer.Span);

        public async ValueTask DisposeAsync()
        {
            Region.Dispose();
            await Pair.DisposeAsync();
            Buffer.Dispose();
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.ServerValidated), MemberType = typeof(Backends))]
    public async Task GrantedRead_WithItsTokenAndBinding_ReadsExactlyThoseBytes_Once(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var g = new Granted(kind);
        var grant = g.Grant();

        var read = await g.ReadAsync(grant.CredentialFor(Binding), 2, 3, 7);

        Assert.True(read.IsSuccess, read.ToString());
        Assert.True(g.Buffer.Slice(2 * Block, 2 * Block).SequenceEqual(g.Pair.LocalBuffer.Slice(0, 2 * Block)));
        Assert.True(g.Buffer.Slice(7 * Block, Block).SequenceEqual(g.Pair.LocalBuffer.Slice(2 * Block, Block)));

        var again = await g.ReadAsync(grant.CredentialFor(Binding), 2);
        Assert.Equal(TransferErrorKind.AccessDenied, again.Error);
        Assert.Contains("used already", again.Message);
        Assert.Equal(1, g.Pair.Remote.RefusedRequests);
    }

    public static TheoryData<TransferBackendKind, string> Forgeries()
    {
        var data = new TheoryData<TransferBackendKind, string>();
        foreach (var kind in new[] { TransferBackendKind.InProcess, TransferBackendKind.Tcp })
        {
            foreach (var forgery in new[] { "no token", "invented token", "blocks never granted", "another binding", "revoked token" })
            {
                data.Add(kind, forgery);
            }
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Forgeries))]
    public async Task ForgedRead_IsRefused_Counted_AndMovesNothing_WhileTheRealReadStillWorks(TransferBackendKind kind, string forgery)
    {
        Backends.SkipIfUnavailable(kind);
        await using var g = new Granted(kind);
        var grant = g.Grant();
        var before = g.Pair.LocalBuffer.Span.ToArray();

        var (credential, blocks) = forgery switch
        {
            "no token" => ((TransferCredential?)null, new[] { 2, 3 }),
            "invented token" => (new TransferCredential(RandomNumberGenerator.GetBytes(TransferGrant.TokenBytes), Binding), new[] { 2, 3 }),
            "blocks never granted" => (grant.CredentialFor(Binding), new[] { 2, 4 }),
            "another binding" => (grant.CredentialFor(SHA256.HashData("the forger's prompt"u8)), new[] { 2, 3 }),
            _ => (grant.CredentialFor(Binding), new[] { 2, 3 }),
        };
        if (forgery == "revoked token")
        {
            Assert.True(g.Pair.Remote.RevokeGrant(grant.Token.Span));
        }

        var forged = await g.ReadAsync(credential, blocks);

        Assert.Equal(TransferErrorKind.AccessDenied, forged.Error);
        Assert.True(g.LocalUntouched(before), "a refused read wrote into the reader's memory");
        Assert.Equal(1, g.Pair.Remote.RefusedRequests);
        if (forgery != "revoked token")
        {
            // A refusal does not use the grant up: its rightful reader still gets the blocks.
            var real = await g.ReadAsync(grant.CredentialFor(Binding), 2, 3, 7);
            Assert.True(real.IsSuccess, real.ToString());
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Backends.ServerValidated), MemberType = typeof(Backends))]
    public async Task UngrantedRegions_ReadAsBefore_WithoutAToken(TransferBackendKind kind)
    {
        Backends.SkipIfUnavailable(kind);
        await using var pair = AgentPair.Create(kind);
        var read = await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, Block)), new DescriptorList().Add(pair.RemoteMeta.Describe(0, Block)), pair.Remote.Name)
            .Completion.Within("a read of an ordinary region");
        Assert.True(read.IsSuccess, read.ToString());
        Assert.Equal(0, pair.Remote.RefusedRequests);
    }

    [Fact]
    public void IssueGrant_OutsideRegisteredMemory_Throws()
    {
        using var agent = new AgentScope(TransferBackendKind.InProcess);
        var outside = new DescriptorList().Add(new TransferDescriptor(999, 4096, 4096));
        Assert.Throws<ArgumentException>(() => agent.Agent.IssueGrant(outside, Binding));
        Assert.Equal(0, agent.Agent.OutstandingGrants);
    }

    private static byte[] Key(byte fill) => Enumerable.Repeat(fill, 32).ToArray();

    [Fact]
    public async Task TcpHandshake_SameKeyOnBothSides_Transfers()
    {
        await using var pair = AgentPair.Create(TransferBackendKind.Tcp, configure: o => o.AuthenticationKey = Key(7));
        var read = await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, Block)), new DescriptorList().Add(pair.RemoteMeta.Describe(0, Block)), pair.Remote.Name)
            .Completion.Within("an authenticated read");
        Assert.True(read.IsSuccess, read.ToString());
        Assert.True(pair.RemoteBuffer.Slice(0, Block).SequenceEqual(pair.LocalBuffer.Slice(0, Block)));
    }

    public static TheoryData<string> KeyMismatches => ["client without a key", "client with another key", "server without a key"];

    [Theory]
    [MemberData(nameof(KeyMismatches))]
    public async Task TcpHandshake_WrongOrMissingKey_IsRefused_AndMovesNothing(string mismatch)
    {
        var id = Guid.NewGuid().ToString("N")[..6];
        var clientOptions = AgentPair.Options(TransferBackendKind.Tcp, "client-" + id);
        var serverOptions = AgentPair.Options(TransferBackendKind.Tcp, "server-" + id);
        clientOptions.AuthenticationKey = mismatch switch { "client without a key" => null, "client with another key" => Key(8), _ => Key(7) };
        serverOptions.AuthenticationKey = mismatch == "server without a key" ? null : Key(7);
        await using var client = TransferAgent.Create(clientOptions);
        await using var server = TransferAgent.Create(serverOptions);
        using var clientBuffer = new NativeBuffer(Block, seed: 1);
        using var serverBuffer = new NativeBuffer(Block, seed: 2);
        using var clientRegion = client.RegisterMemory(clientBuffer.Address, Block);
        using var serverRegion = server.RegisterMemory(serverBuffer.Address, Block);
        client.LoadRemoteMetadata(server.GetLocalMetadata().ToBytes());
        var before = clientBuffer.Span.ToArray();

        var read = await client.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(clientRegion.Describe(0, Block)),
            new DescriptorList().Add(client.GetRemoteMetadata(server.Name)!.FindRegion(serverRegion.Id)!.Describe(0, Block)), server.Name)
            .Completion.Within("a read over a connection that must not authenticate");

        Assert.Equal(TransferErrorKind.AccessDenied, read.Error);
        Assert.Contains("AuthenticationKey", read.Message);
        Assert.True(before.AsSpan().SequenceEqual(clientBuffer.Span));
        if (mismatch != "client with another key")
        {
            Assert.Equal(1, server.RefusedRequests);
        }
        else
        {
            // The client refuses first: the server's proof does not verify with the client's key.
            Assert.Equal(0, server.RefusedRequests);
        }
    }

    [Fact]
    public void TooShortAuthenticationKey_IsRejectedWithItsKey()
    {
        var options = AgentPair.Options(TransferBackendKind.Tcp, "short-key");
        options.AuthenticationKey = new byte[8];
        var e = Assert.Throws<ArgumentException>(() => TransferAgent.Create(options));
        Assert.Contains("Dynamo:Transfer:AuthenticationKey", e.Message);
    }

    [SkippableFact]
    public async Task UcxKeys_AreSealedWithTheAuthenticationKey_AndOpenOnlyWithIt()
    {
        Backends.SkipIfUnavailable(TransferBackendKind.Ucx);
        var id = Guid.NewGuid().ToString("N")[..6];
        TransferAgent Agent(string name, byte[]? key)
        {
            var options = AgentPair.Options(TransferBackendKind.Ucx, $"{name}-{id}");
            options.AuthenticationKey = key;
            return TransferAgent.Create(options);
        }

        await using var owner = Agent("owner", Key(7));
        await using var member = Agent("member", Key(7));
        await using var outsider = Agent("outsider", null);
        await using var other = Agent("other", Key(9));
        await using var plain = Agent("plain", null);
        using var buffer = new NativeBuffer(Block, seed: 3);
        using var region = owner.RegisterMemory(buffer.Address, Block);
        using var plainRegion = plain.RegisterMemory(buffer.Address, Block);

        var published = owner.GetLocalMetadata();
        var sealedKey = published.FindRegion(region.Id)!.Keys.Single(k => k.Kind == TransferBackendKind.Ucx).Key;
        var rawKey = plain.GetLocalMetadata().FindRegion(plainRegion.Id)!.Keys.Single(k => k.Kind == TransferBackendKind.Ucx).Key;
        Assert.NotEqual(rawKey.Length, sealedKey.Length);

        member.LoadRemoteMetadata(published.ToBytes());
        Assert.Throws<InvalidOperationException>(() => outsider.LoadRemoteMetadata(published.ToBytes()));
        Assert.Throws<InvalidOperationException>(() => other.LoadRemoteMetadata(published.ToBytes()));

        using var memberBuffer = new NativeBuffer(Block, seed: 4);
        using var memberRegion = member.RegisterMemory(memberBuffer.Address, Block);
        var read = await member.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(memberRegion.Describe(0, Block)),
            new DescriptorList().Add(member.GetRemoteMetadata(owner.Name)!.FindRegion(region.Id)!.Describe(0, Block)), owner.Name)
            .Completion.Within("a UCX read with an opened key");
        Assert.True(read.IsSuccess, read.ToString());
    }

    private sealed class AgentScope : IDisposable
    {
        public AgentScope(TransferBackendKind kind) => Agent = TransferAgent.Create(AgentPair.Options(kind, "scope-" + Guid.NewGuid().ToString("N")[..6]));

        public TransferAgent Agent { get; }

        public void Dispose() => Agent.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
