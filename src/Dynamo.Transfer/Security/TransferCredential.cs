namespace Dynamo.Transfer.Security;

/// <summary>
/// What a reader presents with a READ of granted memory: the grant's token and the binding it computes itself from
/// what it is about to use the bytes for (the digest of its own prompt tokens). The serving side refuses the read
/// unless both match the grant, so a descriptor copied or forged for another prompt reads nothing.
/// </summary>
public sealed class TransferCredential
{
    public TransferCredential(ReadOnlyMemory<byte> token, ReadOnlyMemory<byte> binding)
    {
        if (token.Length != TransferGrant.TokenBytes)
        {
            throw new ArgumentException($"a transfer token has {TransferGrant.TokenBytes} bytes, got {token.Length}", nameof(token));
        }

        if (binding.Length > TransferGrant.MaxBindingBytes)
        {
            throw new ArgumentException($"a binding has at most {TransferGrant.MaxBindingBytes} bytes, got {binding.Length}", nameof(binding));
        }

        Token = token.ToArray();
        Binding = binding.ToArray();
    }

    public ReadOnlyMemory<byte> Token { get; }

    public ReadOnlyMemory<byte> Binding { get; }

    /// <summary>Bytes on the wire: token then binding.</summary>
    internal int WireLength => Token.Length + Binding.Length;

    internal void WriteTo(Span<byte> buffer)
    {
        Token.Span.CopyTo(buffer);
        Binding.Span.CopyTo(buffer[Token.Length..]);
    }

    public override string ToString() => $"transfer credential ({Binding.Length}-byte binding)";
}
