using System.Buffers.Binary;

namespace Dynamo.Transfer.Backends.Tcp;

internal enum TcpOp : byte
{
    Hello = 1,
    HelloReply = 2,
    Read = 3,
    ReadReply = 4,
    Write = 5,
    WriteReply = 6,
    Notify = 7,
    NotifyReply = 8,
    Auth = 9,
    AuthReply = 10,
}

/// <summary>
/// The fixed 24-byte header of every TCP message: magic, op, status, credential length, count (descriptors, or the
/// length of a name or an error message that follows), notification length, payload length (bytes of data after the
/// header's own trailer). Requests: Hello (expected incarnation + client name, and with an authentication key the
/// client's nonce as payload), Auth (the client's proof), Read (descriptors + notification + credential; the reply
/// carries the bytes), Write (descriptors + notification + credential + bytes), Notify (message). Replies carry a
/// status and, when it is an error, a message; a HelloReply of an authenticating agent carries its nonce and proof.
/// </summary>
internal readonly record struct TcpFrame(TcpOp Op, TransferErrorKind Status, uint Count, uint NotificationLength, ulong PayloadLength, ushort CredentialLength = 0)
{
    public const int Size = 24;
    public const int DescriptorSize = 24;
    public const uint Magic = 0x54584459; // "YDXT"

    /// <summary>Descriptors one request may carry; more is treated as a malformed request.</summary>
    public const uint MaxDescriptors = 1 << 20;

    public const int MaxErrorMessageBytes = 1024;

    public void Write(Span<byte> buffer)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, Magic);
        buffer[4] = (byte)Op;
        buffer[5] = (byte)Status;
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[6..], CredentialLength);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[8..], Count);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[12..], NotificationLength);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[16..], PayloadLength);
    }

    public static bool TryRead(ReadOnlySpan<byte> buffer, out TcpFrame frame)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(buffer) != Magic || buffer[5] > (byte)TransferErrorKind.BackendError)
        {
            frame = default;
            return false;
        }

        frame = new TcpFrame(
            (TcpOp)buffer[4],
            (TransferErrorKind)buffer[5],
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[12..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[16..]),
            BinaryPrimitives.ReadUInt16LittleEndian(buffer[6..]));
        return true;
    }

    public static void WriteDescriptor(Span<byte> buffer, in Memory.TransferDescriptor d)
    {
        BinaryPrimitives.WriteInt32LittleEndian(buffer, d.Region);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[4..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[8..], d.Address);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[16..], d.Length);
    }

    public static Memory.TransferDescriptor ReadDescriptor(ReadOnlySpan<byte> buffer) => new(
        BinaryPrimitives.ReadInt32LittleEndian(buffer),
        BinaryPrimitives.ReadUInt64LittleEndian(buffer[8..]),
        BinaryPrimitives.ReadUInt64LittleEndian(buffer[16..]));
}
