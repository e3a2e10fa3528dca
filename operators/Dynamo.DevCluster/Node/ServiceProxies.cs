using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Controllers;
using Dynamo.DevCluster.Store;
using Microsoft.Extensions.Logging;

namespace Dynamo.DevCluster.Node;

/// <summary>
/// The node's kube-proxy: for each Service port (TCP) a listener on the Service's cluster IP (a loopback address)
/// and, for NodePort and LoadBalancer Services, on 127.0.0.1:nodePort; each connection goes to the next ready
/// endpoint (round robin) read from the Service's Endpoints at connect time, so endpoint changes apply at once.
/// A connection with no ready endpoint is closed.
/// </summary>
internal sealed class ServiceProxies : IAsyncDisposable
{
    private readonly NodeAgent _agent;
    private readonly ResourceType _endpoints;
    private readonly Dictionary<(string Ns, string Name), List<Listener>> _services = [];

    public ServiceProxies(NodeAgent agent)
    {
        _agent = agent;
        _endpoints = agent.Store.Registry.FindKind("v1", "Endpoints")!;
    }

    private sealed record PortKey(string Address, int Port, string? PortName, int ServicePort);

    private sealed class Listener(PortKey key, TcpListener socket, CancellationTokenSource stop)
    {
        public PortKey Key { get; } = key;
        public TcpListener Socket { get; } = socket;
        public CancellationTokenSource Stop { get; } = stop;
        public int Next;
    }

    /// <summary>Opens and closes listeners so they match the Service (null: deleted).</summary>
    public void Sync(string ns, string name, JsonObject? service)
    {
        var wanted = new List<PortKey>();
        if (service is not null && JsonPaths.GetString(service, "spec.type") != "ExternalName")
        {
            var clusterIp = JsonPaths.GetString(service, "spec.clusterIP");
            var type = JsonPaths.GetString(service, "spec.type");
            foreach (var port in (JsonPaths.Get(service, "spec.ports") as JsonArray ?? []).OfType<JsonObject>())
            {
                if (((string?)port["protocol"] ?? "TCP") != "TCP") continue;
                var number = (int)(JsonPaths.GetLong(port, "port") ?? 0);
                var portName = (string?)port["name"];
                if (LoopbackAddresses.IsLoopback(clusterIp)) wanted.Add(new PortKey(clusterIp!, number, portName, number));
                if (type is "NodePort" or "LoadBalancer" && JsonPaths.GetLong(port, "nodePort") is { } nodePort)
                    wanted.Add(new PortKey("127.0.0.1", (int)nodePort, portName, number));
            }
        }
        lock (_services)
        {
            var current = _services.TryGetValue((ns, name), out var list) ? list : [];
            foreach (var l in current.Where(l => !wanted.Contains(l.Key)).ToList())
            {
                l.Stop.Cancel();
                l.Socket.Stop();
                current.Remove(l);
            }
            foreach (var key in wanted.Where(k => current.All(l => l.Key != k)))
            {
                var socket = new TcpListener(IPAddress.Parse(key.Address), key.Port);
                try
                {
                    socket.Start();
                }
                catch (SocketException e)
                {
                    if (service is not null)
                        _agent.Events.Warning(service, "ProxyListenFailed", $"cannot listen on {key.Address}:{key.Port} for port {key.ServicePort}: {e.Message}");
                    continue;
                }
                var listener = new Listener(key, socket, new CancellationTokenSource());
                current.Add(listener);
                _agent.Log.LogInformation("Service {Namespace}/{Name} port {Port} proxied on {Address}:{ListenPort}", ns, name, key.ServicePort, key.Address, key.Port);
                _ = Task.Run(() => AcceptAsync(ns, name, listener));
            }
            if (current.Count > 0) _services[(ns, name)] = current;
            else _services.Remove((ns, name));
        }
    }

    private async Task AcceptAsync(string ns, string name, Listener listener)
    {
        while (!listener.Stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.Socket.AcceptSocketAsync(listener.Stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => ForwardAsync(ns, name, listener, client));
        }
    }

    private async Task ForwardAsync(string ns, string name, Listener listener, Socket client)
    {
        using var _ = client;
        var backends = ReadyBackends(ns, name, listener.Key);
        if (backends.Count == 0)
        {
            _agent.Log.LogDebug("Service {Namespace}/{Name}: no ready endpoint for port {Port}; connection closed", ns, name, listener.Key.ServicePort);
            _agent.Metrics?.ProxyConnections.WithLabels("no_endpoint").Inc();
            return;
        }
        var start = Interlocked.Increment(ref listener.Next);
        for (var i = 0; i < backends.Count; i++)
        {
            var (ip, port) = backends[(int)((uint)(start + i) % backends.Count)];
            using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await upstream.ConnectAsync(IPAddress.Parse(ip), port, listener.Stop.Token);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                continue;
            }
            _agent.Metrics?.ProxyConnections.WithLabels("forwarded").Inc();
            upstream.NoDelay = true;
            client.NoDelay = true;
            using var a = new NetworkStream(client, ownsSocket: false);
            using var b = new NetworkStream(upstream, ownsSocket: false);
            var up = PumpAsync(a, upstream, b);
            var down = PumpAsync(b, client, a);
            await Task.WhenAll(up, down);
            return;
        }
        _agent.Log.LogDebug("Service {Namespace}/{Name}: no endpoint of port {Port} accepted the connection", ns, name, listener.Key.ServicePort);
        _agent.Metrics?.ProxyConnections.WithLabels("unreachable").Inc();
    }

    /// <summary>Copies until the source ends, then half-closes the destination so the other side sees the end.</summary>
    private static async Task PumpAsync(Stream from, Socket toSocket, Stream to)
    {
        try
        {
            await from.CopyToAsync(to);
            toSocket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            try
            {
                toSocket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception inner) when (inner is SocketException or ObjectDisposedException)
            {
                // Already closed.
            }
        }
    }

    private List<(string Ip, int Port)> ReadyBackends(string ns, string name, PortKey key)
    {
        var result = new List<(string, int)>();
        if (!_agent.Store.TryGet(_endpoints, ns, name, out var endpoints)) return result;
        foreach (var subset in (endpoints!["subsets"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var ports = (subset["ports"] as JsonArray ?? []).OfType<JsonObject>().ToList();
            var port = ports.FirstOrDefault(p => (string?)p["name"] == key.PortName) ?? (ports.Count == 1 && key.PortName is null or "" ? ports[0] : null);
            if (port is null || JsonPaths.GetLong(port, "port") is not { } number) continue;
            foreach (var address in (subset["addresses"] as JsonArray ?? []).OfType<JsonObject>())
            {
                if ((string?)address["ip"] is { } ip) result.Add((ip, (int)number));
            }
        }
        return result;
    }

    public ValueTask DisposeAsync()
    {
        lock (_services)
        {
            foreach (var l in _services.Values.SelectMany(x => x))
            {
                l.Stop.Cancel();
                l.Socket.Stop();
            }
            _services.Clear();
        }
        return ValueTask.CompletedTask;
    }
}
