namespace Dynamo.Transfer;

/// <summary>What peers may do with a registered region. Local use (as the local side of a transfer) is always allowed.</summary>
[Flags]
public enum RemoteAccess
{
    None = 0,
    Read = 1,
    Write = 2,
    ReadWrite = Read | Write,
}
