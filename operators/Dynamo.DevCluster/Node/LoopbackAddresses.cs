using System.Net;

namespace Dynamo.DevCluster.Node;

/// <summary>
/// Hands out loopback addresses 127.B.x.y (y 1-254) in order from a random start, wrapping around, skipping those in use: every Pod gets
/// its own, so processes binding their pod IP can all use the same port. All of 127/8 reaches the loopback interface
/// on Linux without any set-up.
/// </summary>
internal sealed class LoopbackAddresses(int secondByte)
{
    private readonly HashSet<string> _used = [];
    // A random start, so two node agents on one machine (parallel tests) rarely hand out the same address.
    private int _next = Random.Shared.Next(256 * 254);

    public string Allocate()
    {
        lock (_used)
        {
            for (var tries = 0; tries < 256 * 254; tries++)
            {
                var n = _next++ % (256 * 254);
                var address = $"127.{secondByte}.{n / 254}.{n % 254 + 1}";
                if (_used.Add(address)) return address;
            }
        }
        throw new InvalidOperationException($"all 127.{secondByte}.0.0/16 addresses are in use");
    }

    public void Release(string address)
    {
        lock (_used) _used.Remove(address);
    }

    public static bool IsLoopback(string? address) => IPAddress.TryParse(address, out var ip) && IPAddress.IsLoopback(ip);
}
