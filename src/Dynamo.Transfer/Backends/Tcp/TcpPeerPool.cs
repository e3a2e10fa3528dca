using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Dynamo.Transfer.Backends.Tcp;

/// <summary>
/// Connections to one peer incarnation: at most <see cref="TransferAgentOptions.TcpMaxConnectionsPerPeer"/>, kept
/// open between transfers. A connection that saw an error or a cancellation is closed, never reused, because its
/// stream may be mid-message.
/// </summary>
internal sealed class TcpPeerPool(TransferAgent agent, string peerName, Guid incarnation, EndPoint endpoint) : IDisposable
{
    private readonly ConcurrentBag<TcpConnection> _idle = [];
    private readonly SemaphoreSlim _slots = new(agent.Options.TcpMaxConnectionsPerPeer);
    private int _disposed;

    public EndPoint EndPoint { get; } = endpoint;

    /// <summary>A connected, greeted connection, or why there is none. The caller hands a connection back with <see cref="Return"/>.</summary>
    public async ValueTask<(TcpConnection? Connection, TransferOutcome Outcome)> AcquireAsync(CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        while (_idle.TryTake(out var idle))
        {
            if (!idle.IsDisposed)
            {
                return (idle, TransferOutcome.Success);
            }

            idle.Dispose();
        }

        TcpConnection? connection = null;
        try
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            connection = new TcpConnection(socket);
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connect.CancelAfter(agent.Options.ConnectTimeout);
                try
                {
                    await socket.ConnectAsync(EndPoint, connect.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    return Failed(connection, TransferOutcome.Fail(TransferErrorKind.PeerUnreachable,
                        $"connecting to agent '{peerName}' at {EndPoint} took longer than {agent.Options.ConnectTimeout.TotalMilliseconds:F0} ms"));
                }
            }

            var outcome = await HelloAsync(connection, cancellationToken).ConfigureAwait(false);
            return outcome.IsSuccess ? (connection, outcome) : Failed(connection, outcome);
        }
        catch (SocketException e)
        {
            return Failed(connection, TransferOutcome.Fail(TransferErrorKind.PeerUnreachable, $"cannot connect to agent '{peerName}' at {EndPoint}: {e.SocketErrorCode} ({e.Message})"));
        }
        catch (IOException e)
        {
            return Failed(connection, TransferOutcome.Fail(TransferErrorKind.PeerUnreachable, $"agent '{peerName}' at {EndPoint} closed the connection during the greeting: {e.Message}"));
        }
        catch
        {
            Failed(connection, default);
            throw;
        }
    }

    private (TcpConnection?, TransferOutcome) Failed(TcpConnection? connection, TransferOutcome outcome)
    {
        connection?.Dispose();
        _slots.Release();
        return (null, outcome);
    }

    private async ValueTask<TransferOutcome> HelloAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        var key = agent.Options.AuthenticationKey;
        var clientNonce = key is null ? [] : TcpAuthentication.NewNonce();
        var scratch = connection.Scratch;
        var nameLength = Encoding.UTF8.GetBytes(agent.Name, scratch.AsSpan(TcpFrame.Size + 16));
        new TcpFrame(TcpOp.Hello, TransferErrorKind.None, (uint)nameLength, 0, (ulong)clientNonce.Length).Write(scratch);
        incarnation.TryWriteBytes(scratch.AsSpan(TcpFrame.Size, 16));
        clientNonce.CopyTo(scratch.AsSpan(TcpFrame.Size + 16 + nameLength));
        await connection.SendAsync(scratch.AsMemory(0, TcpFrame.Size + 16 + nameLength + clientNonce.Length), cancellationToken).ConfigureAwait(false);
        if (key is null)
        {
            return await TcpBackend.ReadReplyAsync(connection, TcpOp.HelloReply, peerName, cancellationToken, payload: 0).ConfigureAwait(false);
        }

        var reply = await TcpBackend.ReadReplyAsync(connection, TcpOp.HelloReply, peerName, cancellationToken,
            payload: TcpAuthentication.NonceBytes + TcpAuthentication.ProofBytes).ConfigureAwait(false);
        if (!reply.IsSuccess)
        {
            return reply;
        }

        await connection.ReceiveExactAsync(scratch.AsMemory(0, TcpAuthentication.NonceBytes + TcpAuthentication.ProofBytes), cancellationToken).ConfigureAwait(false);
        var serverNonce = scratch.AsSpan(0, TcpAuthentication.NonceBytes).ToArray();
        var expected = TcpAuthentication.ServerProof(key, clientNonce, serverNonce, incarnation);
        if (!TcpAuthentication.Verify(expected, scratch.AsSpan(TcpAuthentication.NonceBytes, TcpAuthentication.ProofBytes)))
        {
            return TransferOutcome.Fail(TransferErrorKind.AccessDenied,
                $"agent '{peerName}' at {EndPoint} failed authentication: it does not hold this agent's {TransferAgentOptions.SectionName}:AuthenticationKey");
        }

        var proof = TcpAuthentication.ClientProof(key, serverNonce, clientNonce, agent.Name);
        new TcpFrame(TcpOp.Auth, TransferErrorKind.None, 0, 0, TcpAuthentication.ProofBytes).Write(scratch);
        proof.CopyTo(scratch.AsSpan(TcpFrame.Size));
        await connection.SendAsync(scratch.AsMemory(0, TcpFrame.Size + TcpAuthentication.ProofBytes), cancellationToken).ConfigureAwait(false);
        return await TcpBackend.ReadReplyAsync(connection, TcpOp.AuthReply, peerName, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Hands back a connection from <see cref="AcquireAsync"/>: kept when the exchange ended cleanly, closed otherwise.</summary>
    public void Return(TcpConnection connection, bool reusable)
    {
        if (reusable && Volatile.Read(ref _disposed) == 0 && !connection.IsDisposed)
        {
            _idle.Add(connection);
            if (Volatile.Read(ref _disposed) != 0)
            {
                DrainIdle();
            }
        }
        else
        {
            connection.Dispose();
        }

        _slots.Release();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        DrainIdle();
    }

    private void DrainIdle()
    {
        while (_idle.TryTake(out var connection))
        {
            connection.Dispose();
        }
    }
}
