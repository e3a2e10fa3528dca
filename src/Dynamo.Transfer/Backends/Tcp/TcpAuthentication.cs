using System.Security.Cryptography;
using System.Text;

namespace Dynamo.Transfer.Backends.Tcp;

/// <summary>
/// The shared-key handshake of TCP transfer connections (<see cref="TransferAgentOptions.AuthenticationKey"/>):
/// the client sends a nonce with its Hello; the server answers with its own nonce and
/// <c>HMAC-SHA256(key, "server" | client nonce | server nonce | server incarnation)</c>; the client checks it and
/// answers with <c>HMAC-SHA256(key, "client" | server nonce | client nonce | client name)</c>. Both proofs are
/// compared in constant time, so each side knows the other holds the key before a byte of memory moves, and a
/// recorded exchange cannot be replayed (fresh nonces on both sides).
/// </summary>
internal static class TcpAuthentication
{
    public const int NonceBytes = 32;
    public const int ProofBytes = 32;

    private static readonly byte[] s_server = "dynamo-transfer/server"u8.ToArray();
    private static readonly byte[] s_client = "dynamo-transfer/client"u8.ToArray();

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceBytes);

    public static byte[] ServerProof(byte[] key, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce, Guid serverIncarnation)
    {
        Span<byte> incarnation = stackalloc byte[16];
        serverIncarnation.TryWriteBytes(incarnation);
        return Mac(key, s_server, clientNonce, serverNonce, incarnation);
    }

    public static byte[] ClientProof(byte[] key, ReadOnlySpan<byte> serverNonce, ReadOnlySpan<byte> clientNonce, string clientName) =>
        Mac(key, s_client, serverNonce, clientNonce, Encoding.UTF8.GetBytes(clientName));

    public static bool Verify(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual) => CryptographicOperations.FixedTimeEquals(expected, actual);

    private static byte[] Mac(byte[] key, ReadOnlySpan<byte> label, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(label);
        hmac.AppendData(a);
        hmac.AppendData(b);
        hmac.AppendData(c);
        return hmac.GetHashAndReset();
    }
}
