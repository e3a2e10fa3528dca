using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dynamo.Transfer.Memory;
using Dynamo.Transfer.Metadata;

namespace Dynamo.Transfer.Backends.Tcp;

/// <summary>
/// Transfers over TCP with the project's own framing (<see cref="TcpFrame"/>). Each agent listens; a READ is served
/// by the peer's listener from its registered memory without its application taking part, a WRITE lands in it the
/// same way. Bytes go straight between sockets and registered memory: no staging copy and no allocation per block.
/// The serving side checks every descriptor against its own registrations before touching memory.
/// </summary>
internal sealed class TcpBackend : TransferBackend
{
    private const int MaxCredentialBytes = Security.TransferGrant.TokenBytes + Security.TransferGrant.MaxBindingBytes;

    private readonly TransferAgent _agent;
    private readonly Socket _listener;
    private readonly ConcurrentDictionary<TcpConnection, Task> _serving = new();
    private readonly ConcurrentDictionary<Guid, TcpPeerPool> _pools = new();
    private readonly Task _acceptLoop;

    private TcpBackend(TransferAgent agent, Socket listener, BackendEndpoint endpoint)
        : base(TransferBackendKind.Tcp, 2e9, TimeSpan.FromMicroseconds(50))
    {
        _agent = agent;
        _listener = listener;
        Endpoint = endpoint;
        _acceptLoop = AcceptLoopAsync();
    }

    public override BackendEndpoint Endpoint { get; }

    public static TcpBackend Start(TransferAgent agent)
    {
        var options = agent.Options;
        var address = IPAddress.Parse(options.TcpHost);
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(address, options.TcpPort));
            listener.Listen(512);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var host = options.TcpAdvertisedHost
            ?? (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) ? Dns.GetHostName() : address.ToString());
        var text = IPAddress.TryParse(host, out var ip) ? new IPEndPoint(ip, port).ToString() : $"{host}:{port}";
        return new TcpBackend(agent, listener, new BackendEndpoint(TransferBackendKind.Tcp, Encoding.UTF8.GetBytes(text)));
    }

    public override bool CanReach(AgentMetadata metadata) =>
        metadata.EndpointFor(TransferBackendKind.Tcp) is { } e && TryParseEndpoint(e.Address, out _);

    internal static bool TryParseEndpoint(byte[] address, out EndPoint? endpoint)
    {
        var text = Encoding.UTF8.GetString(address);
        if (IPEndPoint.TryParse(text, out var ip) && ip.Port != 0)
        {
            endpoint = ip;
            return true;
        }

        var colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text.AsSpan(colon + 1), out var port) && port is > 0 and <= 65535
            && Uri.CheckHostName(text[..colon]) != UriHostNameType.Unknown)
        {
            endpoint = new DnsEndPoint(text[..colon], port);
            return true;
        }

        endpoint = null;
        return false;
    }

    private TcpPeerPool? GetPool(RemotePeer peer)
    {
        if (_pools.TryGetValue(peer.Incarnation, out var pool))
        {
            return pool;
        }

        if (peer.Metadata.EndpointFor(TransferBackendKind.Tcp) is not { } e || !TryParseEndpoint(e.Address, out var endpoint))
        {
            return null;
        }

        var created = new TcpPeerPool(_agent, peer.Name, peer.Incarnation, endpoint!);
        pool = _pools.GetOrAdd(peer.Incarnation, created);
        if (!ReferenceEquals(pool, created))
        {
            created.Dispose();
        }

        return pool;
    }

    public override void ForgetPeer(string name, Guid incarnation)
    {
        if (_pools.TryRemove(incarnation, out var pool))
        {
            pool.Dispose();
        }
    }

    public override async ValueTask<TransferOutcome> TransferAsync(TransferJob job, CancellationToken cancellationToken)
    {
        return await ExchangeAsync(job.Peer, job, null, cancellationToken).ConfigureAwait(false);
    }

    public override async ValueTask<TransferOutcome> NotifyAsync(RemotePeer peer, byte[] message, CancellationToken cancellationToken)
    {
        return await ExchangeAsync(peer, null, message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One request on a pooled connection: a transfer when <paramref name="job"/> is set, else a notification.</summary>
    private async ValueTask<TransferOutcome> ExchangeAsync(RemotePeer peer, TransferJob? job, byte[]? message, CancellationToken cancellationToken)
    {
        var pool = GetPool(peer);
        if (pool is null)
        {
            return TransferOutcome.Fail(TransferErrorKind.PeerUnreachable, $"agent '{peer.Name}' publishes no usable TCP endpoint");
        }

        TcpConnection? connection = null;
        var reusable = false;
        try
        {
            (connection, var outcome) = await pool.AcquireAsync(cancellationToken).ConfigureAwait(false);
            if (connection is null)
            {
                return outcome;
            }

            outcome = job is null
                ? await NotifyOnAsync(connection, peer.Name, message!, cancellationToken).ConfigureAwait(false)
                : job.Operation == TransferOperation.Read
                    ? await ReadOnAsync(connection, job, cancellationToken).ConfigureAwait(false)
                    : await WriteOnAsync(connection, job, cancellationToken).ConfigureAwait(false);
            reusable = true;
            return outcome;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return TransferOutcome.Fail(TransferErrorKind.Cancelled, "cancelled");
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            return TransferOutcome.Fail(TransferErrorKind.PeerDisconnected, $"connection to agent '{peer.Name}' at {pool.EndPoint} broke: {e.Message}");
        }
        catch (InvalidDataException e)
        {
            return TransferOutcome.Fail(TransferErrorKind.BackendError, $"agent '{peer.Name}' at {pool.EndPoint} sent a malformed reply: {e.Message}");
        }
        finally
        {
            if (connection is not null)
            {
                pool.Return(connection, reusable);
            }
        }
    }

    private async ValueTask<TransferOutcome> ReadOnAsync(TcpConnection connection, TransferJob job, CancellationToken cancellationToken)
    {
        await SendRequestAsync(connection, TcpOp.Read, job, cancellationToken).ConfigureAwait(false);
        var reply = await ReadReplyAsync(connection, TcpOp.ReadReply, job.Peer.Name, cancellationToken, (ulong)job.Bytes).ConfigureAwait(false);
        if (!reply.IsSuccess)
        {
            return reply;
        }

        for (var i = 0; i < job.LocalCount; i++)
        {
            await connection.ReceiveNativeAsync(job.Local[i].Address, job.Local[i].Length, cancellationToken).ConfigureAwait(false);
        }

        return TransferOutcome.Success;
    }

    private async ValueTask<TransferOutcome> WriteOnAsync(TcpConnection connection, TransferJob job, CancellationToken cancellationToken)
    {
        await SendRequestAsync(connection, TcpOp.Write, job, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < job.LocalCount; i++)
        {
            await connection.SendNativeAsync(job.Local[i].Address, job.Local[i].Length, cancellationToken).ConfigureAwait(false);
        }

        return await ReadReplyAsync(connection, TcpOp.WriteReply, job.Peer.Name, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<TransferOutcome> NotifyOnAsync(TcpConnection connection, string peerName, byte[] message, CancellationToken cancellationToken)
    {
        var scratch = connection.Scratch;
        new TcpFrame(TcpOp.Notify, TransferErrorKind.None, 0, (uint)message.Length, 0).Write(scratch);
        await connection.SendAsync(scratch.AsMemory(0, TcpFrame.Size), cancellationToken).ConfigureAwait(false);
        await connection.SendAsync(message, cancellationToken).ConfigureAwait(false);
        return await ReadReplyAsync(connection, TcpOp.NotifyReply, peerName, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Header, remote descriptors and notification in one send (from the scratch buffer when they fit).</summary>
    private static async ValueTask SendRequestAsync(TcpConnection connection, TcpOp op, TransferJob job, CancellationToken cancellationToken)
    {
        var notification = job.Notification ?? [];
        var credential = job.Credential?.WireLength ?? 0;
        var size = TcpFrame.Size + (job.RemoteCount * TcpFrame.DescriptorSize) + notification.Length + credential;
        var rented = size > connection.Scratch.Length ? ArrayPool<byte>.Shared.Rent(size) : null;
        var buffer = rented ?? connection.Scratch;
        try
        {
            new TcpFrame(op, TransferErrorKind.None, (uint)job.RemoteCount, (uint)notification.Length, (ulong)job.Bytes, (ushort)credential).Write(buffer);
            var offset = TcpFrame.Size;
            foreach (var d in job.RemoteSpan)
            {
                TcpFrame.WriteDescriptor(buffer.AsSpan(offset), d);
                offset += TcpFrame.DescriptorSize;
            }

            notification.CopyTo(buffer.AsSpan(offset));
            job.Credential?.WriteTo(buffer.AsSpan(offset + notification.Length));
            await connection.SendAsync(buffer.AsMemory(0, size), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Reads a reply header (and its error message); throws <see cref="InvalidDataException"/> for a malformed one.</summary>
    internal static async ValueTask<TransferOutcome> ReadReplyAsync(TcpConnection connection, TcpOp expected, string peerName, CancellationToken cancellationToken, ulong? payload = null)
    {
        var scratch = connection.Scratch;
        await connection.ReceiveExactAsync(scratch.AsMemory(0, TcpFrame.Size), cancellationToken).ConfigureAwait(false);
        if (!TcpFrame.TryRead(scratch, out var frame) || frame.Op != expected)
        {
            throw new InvalidDataException($"expected {expected}, got a frame that is not one");
        }

        if (frame.Status != TransferErrorKind.None)
        {
            if (frame.Count > TcpFrame.MaxErrorMessageBytes)
            {
                throw new InvalidDataException($"error message of {frame.Count} bytes");
            }

            await connection.ReceiveExactAsync(scratch.AsMemory(0, (int)frame.Count), cancellationToken).ConfigureAwait(false);
            return TransferOutcome.Fail(frame.Status, $"agent '{peerName}' refused: {Encoding.UTF8.GetString(scratch, 0, (int)frame.Count)}");
        }

        if (payload is { } expectedPayload && frame.PayloadLength != expectedPayload)
        {
            throw new InvalidDataException($"reply announces {frame.PayloadLength} bytes, {expectedPayload} were asked for");
        }

        return TransferOutcome.Success;
    }

    private async Task AcceptLoopAsync()
    {
        var stopping = _agent.Stopping;
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException && stopping.IsCancellationRequested)
            {
                break;
            }
            catch (SocketException)
            {
                // A connection that failed during accept (reset by the client) is the client's problem, not the listener's.
                continue;
            }

            var connection = new TcpConnection(socket);
            var serving = new TaskCompletionSource();
            _serving[connection] = serving.Task;
            _ = ServeAsync(connection, serving);
        }
    }

    private async Task ServeAsync(TcpConnection connection, TaskCompletionSource done)
    {
        var stopping = _agent.Stopping;
        var remote = connection.Remote;
        var peerName = remote;
        var reason = "closed by the peer";
        var leases = new LeaseSet();
        try
        {
            await Task.Yield();
            if (await ServeHelloAsync(connection, stopping).ConfigureAwait(false) is not { } greeted)
            {
                // Refusals were counted and logged by the handshake; a malformed greeting is just closed.
                reason = "greeting refused or malformed";
                return;
            }

            peerName = greeted;
            var scratch = connection.Scratch;
            while (true)
            {
                if (!await TryReceiveHeaderAsync(connection, stopping).ConfigureAwait(false))
                {
                    break;
                }

                if (!TcpFrame.TryRead(scratch, out var frame))
                {
                    throw new InvalidDataException("bad frame header");
                }

                switch (frame.Op)
                {
                    case TcpOp.Read:
                    case TcpOp.Write:
                        await ServeTransferAsync(connection, frame, peerName, leases, stopping).ConfigureAwait(false);
                        break;
                    case TcpOp.Notify:
                        await ServeNotifyAsync(connection, frame, peerName, stopping).ConfigureAwait(false);
                        break;
                    default:
                        throw new InvalidDataException($"unexpected op {frame.Op}");
                }
            }
        }
        catch (OperationCanceledException)
        {
            reason = "agent stopping or region deregistered";
        }
        catch (InvalidDataException e)
        {
            reason = "malformed request: " + e.Message;
            _agent.LogRejected(peerName, Kind, TransferErrorKind.InvalidDescriptor, reason);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            reason = e.Message;
        }
        finally
        {
            leases.ReleaseAll();
            _serving.TryRemove(connection, out _);
            connection.Dispose();
            TransferLog.ConnectionClosed(_agent.Logger, _agent.Name, Kind, peerName, reason);
            done.TrySetResult();
        }
    }

    /// <summary>False when the peer closed the connection cleanly between messages.</summary>
    private static async ValueTask<bool> TryReceiveHeaderAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        var memory = connection.Scratch.AsMemory(0, TcpFrame.Size);
        var n = await connection.Socket.ReceiveAsync(memory, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        if (n == 0)
        {
            return false;
        }

        await connection.ReceiveExactAsync(memory[n..], cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Reads the greeting (and with an <see cref="TransferAgentOptions.AuthenticationKey"/> runs the handshake of
    /// <see cref="TcpAuthentication"/>); replies stale when the client expects another incarnation, refused when it
    /// cannot authenticate. Returns the client's name, or null to close. Bounded by the connect timeout.
    /// </summary>
    private async ValueTask<string?> ServeHelloAsync(TcpConnection connection, CancellationToken stopping)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_agent.Options.ConnectTimeout);
        var cancellationToken = timeout.Token;
        var scratch = connection.Scratch;
        await connection.ReceiveExactAsync(scratch.AsMemory(0, TcpFrame.Size), cancellationToken).ConfigureAwait(false);
        if (!TcpFrame.TryRead(scratch, out var frame) || frame.Op != TcpOp.Hello || frame.Count is 0 or > AgentMetadata.MaxNameBytes
            || frame.PayloadLength is not (0 or TcpAuthentication.NonceBytes))
        {
            return null;
        }

        var nonceLength = (int)frame.PayloadLength;
        await connection.ReceiveExactAsync(scratch.AsMemory(0, 16 + (int)frame.Count + nonceLength), cancellationToken).ConfigureAwait(false);
        var expected = new Guid(scratch.AsSpan(0, 16));
        var name = Encoding.UTF8.GetString(scratch, 16, (int)frame.Count);
        var clientNonce = scratch.AsSpan(16 + (int)frame.Count, nonceLength).ToArray();
        if (expected != _agent.Incarnation)
        {
            await ReplyAsync(connection, TcpOp.HelloReply, TransferErrorKind.StaleMetadata,
                $"'{name}' expects incarnation {expected:N} of agent '{_agent.Name}', which is now {_agent.Incarnation:N}", cancellationToken).ConfigureAwait(false);
            return null;
        }

        var key = _agent.Options.AuthenticationKey;
        if (key is null || nonceLength == 0)
        {
            if (key is null && nonceLength == 0)
            {
                await ReplyAsync(connection, TcpOp.HelloReply, TransferErrorKind.None, null, cancellationToken).ConfigureAwait(false);
                return name;
            }

            var reason = key is null
                ? $"agent '{_agent.Name}' has no {TransferAgentOptions.SectionName}:AuthenticationKey and '{name}' has one: configure the same key on both"
                : $"agent '{_agent.Name}' accepts only authenticated connections and '{name}' has no {TransferAgentOptions.SectionName}:AuthenticationKey";
            _agent.Refuse(name, Kind, reason);
            await ReplyAsync(connection, TcpOp.HelloReply, TransferErrorKind.AccessDenied, reason, cancellationToken).ConfigureAwait(false);
            return null;
        }

        var serverNonce = TcpAuthentication.NewNonce();
        var proof = TcpAuthentication.ServerProof(key, clientNonce, serverNonce, _agent.Incarnation);
        new TcpFrame(TcpOp.HelloReply, TransferErrorKind.None, 0, 0, TcpAuthentication.NonceBytes + TcpAuthentication.ProofBytes).Write(scratch);
        serverNonce.CopyTo(scratch.AsSpan(TcpFrame.Size));
        proof.CopyTo(scratch.AsSpan(TcpFrame.Size + TcpAuthentication.NonceBytes));
        await connection.SendAsync(scratch.AsMemory(0, TcpFrame.Size + TcpAuthentication.NonceBytes + TcpAuthentication.ProofBytes), cancellationToken).ConfigureAwait(false);

        await connection.ReceiveExactAsync(scratch.AsMemory(0, TcpFrame.Size), cancellationToken).ConfigureAwait(false);
        if (!TcpFrame.TryRead(scratch, out frame) || frame.Op != TcpOp.Auth || frame.PayloadLength != TcpAuthentication.ProofBytes)
        {
            _agent.Refuse(name, Kind, "the client did not complete the authentication handshake");
            return null;
        }

        await connection.ReceiveExactAsync(scratch.AsMemory(0, TcpAuthentication.ProofBytes), cancellationToken).ConfigureAwait(false);
        var expectedProof = TcpAuthentication.ClientProof(key, serverNonce, clientNonce, name);
        if (!TcpAuthentication.Verify(expectedProof, scratch.AsSpan(0, TcpAuthentication.ProofBytes)))
        {
            const string Failed = "authentication failed: the client's key differs";
            _agent.Refuse(name, Kind, Failed);
            await ReplyAsync(connection, TcpOp.AuthReply, TransferErrorKind.AccessDenied, Failed, cancellationToken).ConfigureAwait(false);
            return null;
        }

        await ReplyAsync(connection, TcpOp.AuthReply, TransferErrorKind.None, null, cancellationToken).ConfigureAwait(false);
        return name;
    }

    private async ValueTask ServeTransferAsync(TcpConnection connection, TcpFrame frame, string peerName, LeaseSet leases, CancellationToken stopping)
    {
        var read = frame.Op == TcpOp.Read;
        if (frame.Count is 0 or > TcpFrame.MaxDescriptors || frame.NotificationLength > _agent.Options.MaxNotificationBytes
            || frame.CredentialLength > MaxCredentialBytes)
        {
            throw new InvalidDataException($"{frame.Count} descriptors, notification of {frame.NotificationLength} bytes, credential of {frame.CredentialLength} bytes");
        }

        var descriptorBytes = (int)frame.Count * TcpFrame.DescriptorSize;
        var size = descriptorBytes + (int)frame.NotificationLength + frame.CredentialLength;
        var rented = size > connection.Scratch.Length ? ArrayPool<byte>.Shared.Rent(size) : null;
        var buffer = rented ?? connection.Scratch;
        var descriptors = ArrayPool<TransferDescriptor>.Shared.Rent((int)frame.Count);
        try
        {
            await connection.ReceiveExactAsync(buffer.AsMemory(0, size), stopping).ConfigureAwait(false);
            ulong total = 0;
            for (var i = 0; i < frame.Count; i++)
            {
                descriptors[i] = TcpFrame.ReadDescriptor(buffer.AsSpan(i * TcpFrame.DescriptorSize));
                total += descriptors[i].Length;
            }

            var notification = frame.NotificationLength == 0 ? null : buffer.AsSpan(descriptorBytes, (int)frame.NotificationLength).ToArray();
            var count = (int)frame.Count;
            TransferErrorKind error;
            string? message;
            if (total != frame.PayloadLength)
            {
                error = TransferErrorKind.InvalidDescriptor;
                message = $"descriptors total {total} bytes, the request announces {frame.PayloadLength}";
                _agent.LogRejected(peerName, Kind, error, message);
            }
            else
            {
                var credential = buffer.AsSpan(descriptorBytes + (int)frame.NotificationLength, frame.CredentialLength);
                error = _agent.AuthorizeRemote(descriptors.AsSpan(0, count), read ? RemoteAccess.Read : RemoteAccess.Write, credential, leases, peerName, Kind, out message);
            }

            if (error != TransferErrorKind.None)
            {
                if (!read)
                {
                    await connection.DiscardAsync(frame.PayloadLength, stopping).ConfigureAwait(false);
                }

                await ReplyAsync(connection, read ? TcpOp.ReadReply : TcpOp.WriteReply, error, message, stopping).ConfigureAwait(false);
                return;
            }

            using (var cancel = LinkRevocations(leases, stopping))
            {
                var token = cancel?.Token ?? stopping;
                if (read)
                {
                    new TcpFrame(TcpOp.ReadReply, TransferErrorKind.None, 0, 0, frame.PayloadLength).Write(connection.Scratch);
                    await connection.SendAsync(connection.Scratch.AsMemory(0, TcpFrame.Size), token).ConfigureAwait(false);
                    for (var i = 0; i < count; i++)
                    {
                        await connection.SendNativeAsync(descriptors[i].Address, descriptors[i].Length, token).ConfigureAwait(false);
                    }
                }
                else
                {
                    for (var i = 0; i < count; i++)
                    {
                        await connection.ReceiveNativeAsync(descriptors[i].Address, descriptors[i].Length, token).ConfigureAwait(false);
                    }
                }
            }

            leases.ReleaseAll();
            if (notification is not null)
            {
                _agent.Deliver(peerName, notification);
            }

            if (!read)
            {
                await ReplyAsync(connection, TcpOp.WriteReply, TransferErrorKind.None, null, stopping).ConfigureAwait(false);
            }
        }
        finally
        {
            leases.ReleaseAll();
            ArrayPool<TransferDescriptor>.Shared.Return(descriptors);
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static CancellationTokenSource? LinkRevocations(LeaseSet leases, CancellationToken stopping)
    {
        if (leases.Count == 0)
        {
            return null;
        }

        var tokens = new CancellationToken[leases.Count + 1];
        for (var i = 0; i < leases.Count; i++)
        {
            tokens[i] = leases[i].Revoked;
        }

        tokens[^1] = stopping;
        return CancellationTokenSource.CreateLinkedTokenSource(tokens);
    }

    private async ValueTask ServeNotifyAsync(TcpConnection connection, TcpFrame frame, string peerName, CancellationToken stopping)
    {
        if (frame.NotificationLength > _agent.Options.MaxNotificationBytes)
        {
            throw new InvalidDataException($"notification of {frame.NotificationLength} bytes");
        }

        var message = new byte[frame.NotificationLength];
        await connection.ReceiveExactAsync(message, stopping).ConfigureAwait(false);
        _agent.Deliver(peerName, message);
        await ReplyAsync(connection, TcpOp.NotifyReply, TransferErrorKind.None, null, stopping).ConfigureAwait(false);
    }

    private static async ValueTask ReplyAsync(TcpConnection connection, TcpOp op, TransferErrorKind status, string? message, CancellationToken cancellationToken)
    {
        var scratch = connection.Scratch;
        var length = 0;
        if (message is not null)
        {
            var text = message.Length > TcpFrame.MaxErrorMessageBytes / 4 ? message[..(TcpFrame.MaxErrorMessageBytes / 4)] : message;
            length = Encoding.UTF8.GetBytes(text, scratch.AsSpan(TcpFrame.Size));
        }

        new TcpFrame(op, status, (uint)length, 0, 0).Write(scratch);
        await connection.SendAsync(scratch.AsMemory(0, TcpFrame.Size + length), cancellationToken).ConfigureAwait(false);
    }

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public override async ValueTask StopAsync()
    {
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        foreach (var connection in _serving.Keys)
        {
            connection.Close();
        }

        await Task.WhenAll(_serving.Values).ConfigureAwait(false);
        foreach (var pool in _pools.Values)
        {
            pool.Dispose();
        }

        _pools.Clear();
    }
}
