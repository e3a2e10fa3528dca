using Dynamo.Transfer.Memory;
using Dynamo.Transfer.Metadata;

namespace Dynamo.Transfer.Tests;

/// <summary>Two agents on one backend, each with a registered buffer, each holding the other's metadata.</summary>
internal sealed class AgentPair : IAsyncDisposable
{
    private AgentPair(TransferAgent local, TransferAgent remote, NativeBuffer localBuffer, NativeBuffer remoteBuffer)
    {
        Local = local;
        Remote = remote;
        LocalBuffer = localBuffer;
        RemoteBuffer = remoteBuffer;
        LocalRegion = local.RegisterMemory(localBuffer.Address, localBuffer.Length);
        RemoteRegion = remote.RegisterMemory(remoteBuffer.Address, remoteBuffer.Length);
        local.LoadRemoteMetadata(remote.GetLocalMetadata().ToBytes());
        remote.LoadRemoteMetadata(local.GetLocalMetadata().ToBytes());
    }

    public TransferAgent Local { get; }

    public TransferAgent Remote { get; private set; }

    public NativeBuffer LocalBuffer { get; }

    public NativeBuffer RemoteBuffer { get; }

    public MemoryRegion LocalRegion { get; }

    public MemoryRegion RemoteRegion { get; }

    /// <summary>The remote region as the local agent sees it, from the loaded metadata.</summary>
    public RegionMetadata RemoteMeta => Local.GetRemoteMetadata(Remote.Name)!.FindRegion(RemoteRegion.Id)!;

    public static TransferAgentOptions Options(TransferBackendKind kind, string name) => new()
    {
        Name = name,
        Backends = Backends.OptionName(kind),
        RequireAllBackends = true,
        DefaultTimeout = TimeSpan.FromSeconds(20),

        // UcxPeerFailureHandling stays at the product default (true: UCX over its TCP transport on one host, dead
        // peers fail transfers). UcxModeTests covers the shared-memory mode (false) as well.
    };

    public static AgentPair Create(TransferBackendKind kind, long bytes = 4 << 20, Action<TransferAgentOptions>? configure = null)
    {
        var id = Guid.NewGuid().ToString("N")[..6];
        var localOptions = Options(kind, "local-" + id);
        var remoteOptions = Options(kind, "remote-" + id);
        configure?.Invoke(localOptions);
        configure?.Invoke(remoteOptions);
        var local = TransferAgent.Create(localOptions);
        var remote = TransferAgent.Create(remoteOptions);
        return new AgentPair(local, remote, new NativeBuffer(bytes, seed: 1), new NativeBuffer(bytes, seed: 2));
    }

    public async ValueTask DisposeRemoteAsync() => await Remote.DisposeAsync();

    public async ValueTask DisposeAsync()
    {
        await Local.DisposeAsync();
        await Remote.DisposeAsync();
        LocalBuffer.Dispose();
        RemoteBuffer.Dispose();
    }
}
