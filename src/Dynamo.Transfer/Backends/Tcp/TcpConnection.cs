using System.Buffers;
using System.Net.Sockets;

namespace Dynamo.Transfer.Backends.Tcp;

/// <summary>
/// One socket with what moving bytes needs: a pooled scratch buffer for headers, descriptors and notifications,
/// and a re-pointable memory manager so data goes straight between the socket and registered memory.
/// One operation at a time.
/// </summary>
internal sealed class TcpConnection : IDisposable
{
    public const int ScratchBytes = 64 * 1024;

    private readonly PointerMemoryManager _native = new();
    private byte[]? _scratch = ArrayPool<byte>.Shared.Rent(ScratchBytes);
    private int _disposed;

    public TcpConnection(Socket socket)
    {
        Socket = socket;
        socket.NoDelay = true;
    }

    public Socket Socket { get; }

    public byte[] Scratch => _scratch ?? throw new ObjectDisposedException(nameof(TcpConnection));

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public string Remote => Socket.RemoteEndPoint?.ToString() ?? "?";

    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var n = await Socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            data = data[n..];
        }
    }

    public async ValueTask ReceiveExactAsync(Memory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var n = await Socket.ReceiveAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new TcpPeerClosedException();
            }

            data = data[n..];
        }
    }

    /// <summary>Sends <paramref name="length"/> bytes of registered memory at <paramref name="address"/>.</summary>
    public async ValueTask SendNativeAsync(ulong address, ulong length, CancellationToken cancellationToken)
    {
        while (length > 0)
        {
            var n = (int)Math.Min(length, PointerMemoryManager.MaxLength);
            var sent = await Socket.SendAsync(_native.Point(address, n), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            address += (ulong)sent;
            length -= (ulong)sent;
        }
    }

    /// <summary>Receives exactly <paramref name="length"/> bytes into registered memory at <paramref name="address"/>.</summary>
    public async ValueTask ReceiveNativeAsync(ulong address, ulong length, CancellationToken cancellationToken)
    {
        while (length > 0)
        {
            var n = (int)Math.Min(length, PointerMemoryManager.MaxLength);
            var received = await Socket.ReceiveAsync(_native.Point(address, n), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (received == 0)
            {
                throw new TcpPeerClosedException();
            }

            address += (ulong)received;
            length -= (ulong)received;
        }
    }

    /// <summary>Reads and throws away <paramref name="length"/> bytes (a write whose descriptors were refused).</summary>
    public async ValueTask DiscardAsync(ulong length, CancellationToken cancellationToken)
    {
        while (length > 0)
        {
            var n = (int)Math.Min(length, (ulong)Scratch.Length);
            var received = await Socket.ReceiveAsync(Scratch.AsMemory(0, n), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (received == 0)
            {
                throw new TcpPeerClosedException();
            }

            length -= (ulong)received;
        }
    }

    /// <summary>Closes the socket, ending any pending operation; safe from any thread.</summary>
    public void Close()
    {
        Interlocked.Exchange(ref _disposed, 1);
        Socket.Dispose();
    }

    /// <summary>Closes and returns the scratch buffer; only the connection's user calls this, after its last operation.</summary>
    public void Dispose()
    {
        Close();
        if (Interlocked.Exchange(ref _scratch, null) is { } scratch)
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }
}
