namespace Dynamo.Transfer;

/// <summary>How bytes move between two agents.</summary>
public enum TransferBackendKind
{
    /// <summary>Both agents in one process: a memory copy.</summary>
    InProcess,

    /// <summary>UCX (<c>libucp</c>): RDMA where the fabric has it, shared memory or TCP on one host.</summary>
    Ucx,

    /// <summary>The project's own framing over TCP sockets; works everywhere.</summary>
    Tcp,
}
