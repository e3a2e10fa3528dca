using System.Net;
using System.Net.Sockets;
using Dynamo.Gateway;

namespace Dynamo.Cli.Hosting;

/// <summary>
/// Checks that can fail, run before slow work (loading models, starting workers), and the one-line messages for
/// start-up failures that would otherwise surface as a stack trace after the workers had loaded.
/// </summary>
internal static class StartupChecks
{
    /// <summary>Exit code of <c>serve</c> and <c>frontend</c> when a port they must listen on is taken.</summary>
    public const int PortInUseExitCode = 2;

    /// <summary>
    /// The first of the gateway's ports (the OpenAI endpoint, then the admin port) that another process listens on,
    /// as a message naming the address and the fix; null when they are free (or chosen by the system, port 0).
    /// </summary>
    public static string? GatewayPortsInUse(GatewayOptions gateway)
    {
        ArgumentNullException.ThrowIfNull(gateway);
        if (!IPAddress.TryParse(gateway.Host, out var address))
        {
            return null; // validated elsewhere; Kestrel reports it
        }

        if (gateway.Port > 0 && InUse(address, gateway.Port))
        {
            return PortInUse(gateway.Host, gateway.Port, "the OpenAI endpoint", "--port or Dynamo:Gateway:Port");
        }

        if (gateway.AdminPort is > 0 and var admin && admin != gateway.Port && InUse(address, admin))
        {
            return PortInUse(gateway.Host, admin, "the admin endpoints", "Dynamo:Gateway:AdminPort");
        }

        if (gateway.GrpcPort is > 0 and var grpc && grpc != gateway.Port && InUse(address, grpc))
        {
            return PortInUse(gateway.Host, grpc, "the gRPC frontend", "--grpc-port or Dynamo:Gateway:GrpcPort");
        }

        return null;
    }

    /// <summary>
    /// Whether a listener holds <paramref name="address"/>:<paramref name="port"/>. The probe binds as Kestrel does
    /// (.NET sets SO_REUSEADDR on Unix), so connections of a stopped server still in TIME_WAIT do not count as in use.
    /// </summary>
    public static bool InUse(IPAddress address, int port)
    {
        ArgumentNullException.ThrowIfNull(address);
        using var probe = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Bind(new IPEndPoint(address, port));
            return false;
        }
        catch (SocketException error) when (error.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return true;
        }
    }

    /// <summary>Whether <paramref name="error"/> (or one it wraps) is a bind that failed because the address was taken.</summary>
    public static bool IsAddressInUse(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is Microsoft.AspNetCore.Connections.AddressInUseException
                || (e is SocketException socket && socket.SocketErrorCode == SocketError.AddressAlreadyInUse))
            {
                return true;
            }
        }

        return false;
    }

    public static string PortInUse(string host, int port, string what, string fix) =>
        $"{host}:{port} ({what}) is already in use by another process; stop it or choose another port ({fix}).";
}
