using System.Runtime.InteropServices;

namespace Dynamo.Transfer.Backends.Ucx;

/// <summary>One peer incarnation's endpoint and unpacked remote keys. Touched only on the UCX progress thread.</summary>
internal sealed class UcxPeer(string name, Guid incarnation)
{
    public string Name { get; } = name;

    public Guid Incarnation { get; } = incarnation;

    public nint Endpoint { get; set; }

    /// <summary>Passed to UCX as the error handler's argument; freed when the endpoint is closed.</summary>
    public GCHandle Handle { get; set; }

    /// <summary>Set by UCX's error handler: the endpoint is dead and must be closed before another is made.</summary>
    public sbyte Error { get; set; }

    public bool Closing { get; set; }

    public bool CloseDone { get; set; }

    /// <summary>Requests on this endpoint not yet complete; keys are destroyed only when none remain.</summary>
    public int Outstanding { get; set; }

    public Dictionary<int, nint> RemoteKeys { get; } = [];
}
