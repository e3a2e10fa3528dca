using System.Net;
using System.Net.Sockets;
using System.Text;
using Dynamo.Transfer.Memory;
using Dynamo.Transfer.Metadata;

namespace Dynamo.Transfer.Tests;

/// <summary>TCP faults that need a misbehaving peer: a connection cut half-way through a read, a peer that never answers.</summary>
public sealed class TcpFaultTests
{
    /// <summary>
    /// Forwards one side's connections to <paramref name="target"/> and cuts each connection once
    /// <paramref name="cutAfterBytes"/> bytes have come back from the target.
    /// </summary>
    private sealed class CuttingProxy : IAsyncDisposable
    {
        private readonly Socket _listener = new(SocketType.Stream, ProtocolType.Tcp);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _tasks = [];

        public CuttingProxy(IPEndPoint target, long cutAfterBytes)
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen();
            _tasks.Add(AcceptAsync(target, cutAfterBytes));
        }

        public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

        private async Task AcceptAsync(IPEndPoint target, long cutAfterBytes)
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await _listener.AcceptAsync(_stop.Token);
                }
                catch (Exception)
                {
                    return;
                }

                var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await server.ConnectAsync(target);
                _tasks.Add(PumpAsync(client, server, long.MaxValue));
                _tasks.Add(PumpAsync(server, client, cutAfterBytes));
            }
        }

        private async Task PumpAsync(Socket from, Socket to, long limit)
        {
            var buffer = new byte[16384];
            long moved = 0;
            try
            {
                while (moved < limit)
                {
                    var n = await from.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, limit - moved)), _stop.Token);
                    if (n == 0)
                    {
                        break;
                    }

                    await to.SendAsync(buffer.AsMemory(0, n), _stop.Token);
                    moved += n;
                }
            }
            catch (Exception)
            {
                // Either side went away: the proxy just stops.
            }
            finally
            {
                from.Dispose();
                to.Dispose();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Dispose();
            await Task.WhenAll(_tasks.ToArray());
        }
    }

    private static AgentMetadata WithTcpPort(AgentMetadata metadata, int port) => metadata with
    {
        Endpoints = [new BackendEndpoint(TransferBackendKind.Tcp, Encoding.UTF8.GetBytes($"127.0.0.1:{port}"))],
    };

    private static IPEndPoint TcpEndPoint(TransferAgent agent) =>
        IPEndPoint.Parse(Encoding.UTF8.GetString(agent.GetLocalMetadata().EndpointFor(TransferBackendKind.Tcp)!.Address));

    [Fact]
    public async Task Read_ConnectionCutHalfWay_FailsAsDisconnectedAndTheNextReadWorks()
    {
        await using var pair = AgentPair.Create(TransferBackendKind.Tcp, bytes: 8 << 20);
        await using var proxy = new CuttingProxy(TcpEndPoint(pair.Remote), cutAfterBytes: 4 << 20);
        pair.Local.LoadRemoteMetadata(WithTcpPort(pair.Remote.GetLocalMetadata(), proxy.Port));
        var local = new DescriptorList().Add(pair.LocalRegion.Describe(0, 8 << 20));
        var remote = new DescriptorList().Add(pair.RemoteMeta.Describe(0, 8 << 20));

        var result = await pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name, "unpin"u8).Completion.Within("a read cut half-way");

        Assert.Equal(TransferStatus.Failed, result.Status);
        Assert.Equal(TransferErrorKind.PeerDisconnected, result.Error);
        Assert.Equal(0, pair.Local.InFlightCount);

        // Straight to the peer again: a fresh connection, a full read.
        pair.Local.LoadRemoteMetadata(pair.Remote.GetLocalMetadata());
        var retry = await pair.Local.PostTransfer(TransferOperation.Read, local, remote, pair.Remote.Name).Completion.Within("a read after the cut");
        Assert.True(retry.IsSuccess, retry.ToString());
        Assert.True(pair.RemoteBuffer.Span.SequenceEqual(pair.LocalBuffer.Span));
    }

    [Fact]
    public async Task Write_ConnectionCutHalfWay_FailsAsDisconnected()
    {
        await using var pair = AgentPair.Create(TransferBackendKind.Tcp, bytes: 8 << 20);
        // Cut after the greeting's reply: the write's data flows one way, the reply never comes.
        await using var proxy = new CuttingProxy(TcpEndPoint(pair.Remote), cutAfterBytes: 24);
        pair.Local.LoadRemoteMetadata(WithTcpPort(pair.Remote.GetLocalMetadata(), proxy.Port));

        var result = await pair.Local.PostTransfer(TransferOperation.Write,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 8 << 20)),
            new DescriptorList().Add(pair.RemoteMeta.Describe(0, 8 << 20)), pair.Remote.Name).Completion.Within("a write cut half-way");

        Assert.Equal(TransferStatus.Failed, result.Status);
        Assert.Equal(TransferErrorKind.PeerDisconnected, result.Error);
    }

    [Fact]
    public async Task PeerThatNeverAnswers_TimesOut()
    {
        await using var pair = AgentPair.Create(TransferBackendKind.Tcp);
        using var blackHole = new Socket(SocketType.Stream, ProtocolType.Tcp);
        blackHole.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        blackHole.Listen(); // accepts (the kernel does), never reads or answers
        pair.Local.LoadRemoteMetadata(WithTcpPort(pair.Remote.GetLocalMetadata(), ((IPEndPoint)blackHole.LocalEndPoint!).Port));

        var result = await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096)),
            new DescriptorList().Add(pair.RemoteMeta.Describe(0, 4096)), pair.Remote.Name, timeout: TimeSpan.FromMilliseconds(300)).Completion.Within("a read from a silent peer");

        Assert.Equal(TransferStatus.Failed, result.Status);
        Assert.Equal(TransferErrorKind.Timeout, result.Error);
        Assert.Contains("300 ms", result.Message);
        Assert.Equal(0, pair.Local.InFlightCount);
    }

    [Fact]
    public async Task NothingListening_FailsAsUnreachable()
    {
        await using var pair = AgentPair.Create(TransferBackendKind.Tcp);

        // A port that is bound but not listening refuses connections, and stays ours for the whole case: a port
        // picked and released could be taken by another test process before the read.
        using var closed = new Socket(SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)closed.LocalEndPoint!).Port;

        pair.Local.LoadRemoteMetadata(WithTcpPort(pair.Remote.GetLocalMetadata(), port));
        var result = await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096)),
            new DescriptorList().Add(pair.RemoteMeta.Describe(0, 4096)), pair.Remote.Name).Completion.Within("a read from a closed port");

        Assert.Equal(TransferErrorKind.PeerUnreachable, result.Error);
        Assert.Contains($"127.0.0.1:{port}", result.Message);
    }

    [Fact]
    public async Task GarbageOnTheListener_ClosesThatConnectionOnly()
    {
        await using var pair = AgentPair.Create(TransferBackendKind.Tcp);
        using (var rogue = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await rogue.ConnectAsync(TcpEndPoint(pair.Remote));
            await rogue.SendAsync(new byte[100]);
            var buffer = new byte[64];
            try
            {
                var n = await rogue.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal(0, n); // closed by the agent
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                // Also closed by the agent: unread garbage in its buffer turns the close into a reset.
            }
        }

        var result = await pair.Local.PostTransfer(TransferOperation.Read,
            new DescriptorList().Add(pair.LocalRegion.Describe(0, 4096)),
            new DescriptorList().Add(pair.RemoteMeta.Describe(0, 4096)), pair.Remote.Name).Completion.Within("a read after a rogue connection");
        Assert.True(result.IsSuccess, result.ToString());
    }
}
