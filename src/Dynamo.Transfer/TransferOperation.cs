namespace Dynamo.Transfer;

/// <summary>Direction of a transfer, seen from the agent that posts it (NIXL's <c>NIXL_READ</c> / <c>NIXL_WRITE</c>).</summary>
public enum TransferOperation
{
    /// <summary>Remote memory into local memory: one-sided, the remote application takes no part.</summary>
    Read,

    /// <summary>Local memory into remote memory.</summary>
    Write,
}
