using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Dynamo.Transfer.Metadata;

namespace Dynamo.Transfer.Security;

/// <summary>
/// Seals UCX remote keys in published metadata with the agents' shared <see cref="TransferAgentOptions.AuthenticationKey"/>
/// (AES-256-GCM, key derived by HMAC-SHA256, the agent's name, incarnation and region id as associated data): a UCX
/// rkey lets its holder read the region one-sidedly, with no check by the owner, so only peers holding the key may
/// unpack it. Whoever reads the metadata store without the key learns addresses and lengths, never a usable rkey.
/// </summary>
internal static class RemoteKeySeal
{
    private const uint Magic = 0x4B535844; // "DXSK"
    private const int NonceBytes = 12;
    private const int TagBytes = 16;
    private const int HeaderBytes = 4 + NonceBytes + TagBytes;

    public static AgentMetadata Seal(AgentMetadata metadata, byte[] authenticationKey) =>
        Transform(metadata, authenticationKey, seal: true);

    /// <summary>Opens the sealed keys; throws <see cref="InvalidOperationException"/> when this agent cannot (no key, another key, tampered).</summary>
    public static AgentMetadata Open(AgentMetadata metadata, byte[]? authenticationKey)
    {
        var anySealed = metadata.Regions.Any(r => r.Keys.Any(k => k.Kind == TransferBackendKind.Ucx && IsSealed(k.Key)));
        if (!anySealed)
        {
            return metadata;
        }

        if (authenticationKey is null)
        {
            throw new InvalidOperationException(
                $"agent '{metadata.Name}' seals its UCX keys with {TransferAgentOptions.SectionName}:AuthenticationKey, which this agent does not have: configure the same key on both");
        }

        return Transform(metadata, authenticationKey, seal: false);
    }

    private static AgentMetadata Transform(AgentMetadata metadata, byte[] authenticationKey, bool seal)
    {
        using var aes = new AesGcm(DeriveKey(authenticationKey), TagBytes);
        var regions = new List<RegionMetadata>(metadata.Regions.Count);
        foreach (var region in metadata.Regions)
        {
            var keys = new List<RegionKey>(region.Keys.Count);
            foreach (var key in region.Keys)
            {
                if (key.Kind != TransferBackendKind.Ucx)
                {
                    keys.Add(key);
                    continue;
                }

                var associated = Associated(metadata, region.Id);
                keys.Add(new RegionKey(key.Kind, seal ? SealOne(aes, key.Key, associated) : OpenOne(aes, key.Key, associated, metadata.Name)));
            }

            regions.Add(region with { Keys = keys });
        }

        return metadata with { Regions = regions };
    }

    private static bool IsSealed(byte[] key) => key.Length >= HeaderBytes && BinaryPrimitives.ReadUInt32LittleEndian(key) == Magic;

    private static byte[] SealOne(AesGcm aes, byte[] plain, byte[] associated)
    {
        var sealedKey = new byte[HeaderBytes + plain.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(sealedKey, Magic);
        var nonce = sealedKey.AsSpan(4, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        aes.Encrypt(nonce, plain, sealedKey.AsSpan(HeaderBytes), sealedKey.AsSpan(4 + NonceBytes, TagBytes), associated);
        return sealedKey;
    }

    private static byte[] OpenOne(AesGcm aes, byte[] sealedKey, byte[] associated, string agent)
    {
        if (!IsSealed(sealedKey))
        {
            throw new InvalidOperationException($"agent '{agent}' publishes an unsealed UCX key while this agent requires sealed ones (its {TransferAgentOptions.SectionName}:AuthenticationKey is not set)");
        }

        var plain = new byte[sealedKey.Length - HeaderBytes];
        try
        {
            aes.Decrypt(sealedKey.AsSpan(4, NonceBytes), sealedKey.AsSpan(HeaderBytes), sealedKey.AsSpan(4 + NonceBytes, TagBytes), plain, associated);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new InvalidOperationException($"the UCX keys of agent '{agent}' do not open with this agent's {TransferAgentOptions.SectionName}:AuthenticationKey (another key, or altered metadata)");
        }

        return plain;
    }

    private static byte[] DeriveKey(byte[] authenticationKey) => HMACSHA256.HashData(authenticationKey, "dynamo-transfer/ucx-rkey-seal"u8);

    private static byte[] Associated(AgentMetadata metadata, int regionId)
    {
        var name = Encoding.UTF8.GetBytes(metadata.Name);
        var associated = new byte[name.Length + 16 + 4];
        name.CopyTo(associated, 0);
        metadata.Incarnation.TryWriteBytes(associated.AsSpan(name.Length, 16));
        BinaryPrimitives.WriteInt32LittleEndian(associated.AsSpan(name.Length + 16), regionId);
        return associated;
    }
}
