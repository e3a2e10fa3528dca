using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Dynamo.Contracts.Engine;

/// <summary>
/// SHA-256 of prompt token ids (each as 4 little-endian bytes): what a prefill's pin is bound to and what a decode
/// worker computes from its own request before reading, so blocks pinned for one prompt are never read (nor
/// registered in a prefix cache) for another. Both engines, real and mocker, use it.
/// </summary>
public static class PromptDigest
{
    public const int Bytes = 32;

    public static byte[] Of(ReadOnlySpan<int> tokens)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(tokens.Length, 4096) * 4);
        try
        {
            while (!tokens.IsEmpty)
            {
                var n = Math.Min(tokens.Length, buffer.Length / 4);
                for (var i = 0; i < n; i++)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(i * 4), tokens[i]);
                }

                hash.AppendData(buffer, 0, n * 4);
                tokens = tokens[n..];
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return hash.GetHashAndReset();
    }
}
