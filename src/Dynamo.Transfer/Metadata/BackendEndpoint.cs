namespace Dynamo.Transfer.Metadata;

/// <summary>
/// How to reach an agent over one backend: TCP <c>host:port</c> in UTF-8, the UCX worker address, nothing for
/// in-process (the agent's incarnation is the key there).
/// </summary>
public sealed record BackendEndpoint(TransferBackendKind Kind, byte[] Address)
{
    public override string ToString() => Kind == TransferBackendKind.Tcp
        ? $"tcp://{System.Text.Encoding.UTF8.GetString(Address)}"
        : $"{Kind} ({Address.Length} B)";
}
