namespace Dynamo.Transfer;

/// <summary>Why a transfer failed. Every failure ends as a status with one of these, never as an exception from the transfer.</summary>
public enum TransferErrorKind
{
    None,

    /// <summary>A descriptor is empty, overflows, lies outside its region, or the two lists differ in total length.</summary>
    InvalidDescriptor,

    /// <summary>A local descriptor names a region this agent has not registered (or has deregistered).</summary>
    UnregisteredMemory,

    /// <summary>The region does not allow this access from peers (a read-only region written to).</summary>
    AccessDenied,

    /// <summary>No metadata loaded for the remote agent.</summary>
    UnknownAgent,

    /// <summary>The remote agent restarted since its metadata was loaded; load fresh metadata.</summary>
    StaleMetadata,

    /// <summary>No backend both agents share, or the peer cannot be connected to.</summary>
    PeerUnreachable,

    /// <summary>The connection to the peer broke while the transfer was running.</summary>
    PeerDisconnected,

    /// <summary>The transfer did not finish within its timeout.</summary>
    Timeout,

    /// <summary>The caller cancelled it.</summary>
    Cancelled,

    /// <summary>This agent is shutting down, or the region was deregistered under the transfer.</summary>
    AgentStopped,

    /// <summary>The backend reported an error of its own (the message carries its text).</summary>
    BackendError,
}
