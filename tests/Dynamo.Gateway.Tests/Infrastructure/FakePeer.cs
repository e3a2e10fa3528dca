using System.Net;
using System.Net.Sockets;

namespace Dynamo.Gateway.Tests.Infrastructure;

/// <summary>
/// A loopback TCP endpoint the gateway can be pointed at as a worker, misbehaving on demand:
/// <see cref="PeerMode.Refuse"/> accepts each connection and closes it at once (a dying worker),
/// <see cref="PeerMode.Silent"/> reads a generation request and never answers it (a hung worker; other requests get 404),
/// <see cref="PeerMode.Forward"/> relays to <c>target</c> (the worker is back).
/// </summary>
internal sealed class FakePeer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint? _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];
    private readonly List<Socket> _held = [];
    private readonly TaskCompletionSource _requestSeen = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _accepted;
    private int _heldRequests;
    private volatile PeerMode _mode;

    public FakePeer(PeerMode mode, Uri? target = null)
    {
        _mode = mode;
        _target = target is null ? null : new IPEndPoint(IPAddress.Parse(target.Host), target.Port);
        _listener.Start();
        lock (_held)
        {
            _tasks.Add(AcceptLoopAsync());
        }
    }

    public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

    /// <summary>Connections accepted so far, whatever the mode.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Completes once a <see cref="PeerMode.Silent"/> connection has received a generation request.</summary>
    public Task RequestSeen => _requestSeen.Task;

    /// <summary>Generation requests (<c>POST /v1/completions</c> or <c>/v1/chat/completions</c>) a <see cref="PeerMode.Silent"/> peer has received and left unanswered.</summary>
    public int HeldRequests => Volatile.Read(ref _heldRequests);

    public PeerMode Mode
    {
        get => _mode;
        set => _mode = value;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            switch (_mode)
            {
                case PeerMode.Refuse:
                    client.Close(0);
                    break;
                case PeerMode.Silent:
                    lock (_held)
                    {
                        _held.Add(client);
                        _tasks.Add(ReadForeverAsync(client));
                    }

                    break;
                default:
                    lock (_held)
                    {
                        _tasks.Add(ForwardAsync(client));
                    }

                    break;
            }
        }
    }

    private async Task ReadForeverAsync(Socket client)
    {
        var buffer = new byte[4096];
        var head = new System.Text.StringBuilder();
        try
        {
            int n;
            while ((n = await client.ReceiveAsync(buffer, _stop.Token)) > 0)
            {
                if (!head.ToString().Contains("\r\n", StringComparison.Ordinal))
                {
                    head.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, n));
                    var text = head.ToString();
                    if (!text.Contains("\r\n", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    if (!text.StartsWith("POST /v1/completions ", StringComparison.Ordinal) && !text.StartsWith("POST /v1/chat/completions ", StringComparison.Ordinal))
                    {
                        // Anything but generation (a router asking for KV events, a probe, a pin release) is answered:
                        // only generation hangs.
                        await client.SendAsync("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), _stop.Token);
                        client.Close();
                        return;
                    }

                    Interlocked.Increment(ref _heldRequests);
                    _requestSeen.TrySetResult();
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task ForwardAsync(Socket client)
    {
        using var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await server.ConnectAsync(_target ?? throw new InvalidOperationException("Forward needs a target."), _stop.Token);
            await Task.WhenAny(PumpAsync(client, server), PumpAsync(server, client));
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16384];
        try
        {
            int n;
            while ((n = await from.ReceiveAsync(buffer, _stop.Token)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, n), _stop.Token);
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Closes every connection held open by <see cref="PeerMode.Silent"/>: a hung worker that finally dies.</summary>
    public void DropHeldConnections()
    {
        lock (_held)
        {
            foreach (var socket in _held)
            {
                socket.Close(0);
            }

            _held.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        DropHeldConnections();
        Task[] tasks;
        lock (_held)
        {
            tasks = [.. _tasks];
        }

        await Task.WhenAll(tasks);
        _stop.Dispose();
    }
}

internal enum PeerMode
{
    Refuse,
    Silent,
    Forward,
}
