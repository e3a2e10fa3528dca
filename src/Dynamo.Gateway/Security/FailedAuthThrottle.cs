using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Dynamo.Gateway.Limits;

namespace Dynamo.Gateway.Security;

/// <summary>
/// Counts failed authentications per client address: after <see cref="AuthOptions.MaxFailuresPerClient"/> failures
/// within <see cref="AuthOptions.FailureWindow"/> (refilled continuously) the address is refused until a failure
/// ages out, whatever key it presents, so keys cannot be guessed at line rate. IPv6 clients count per /64 (one host
/// holds a whole /64). At most <see cref="MaxTrackedClients"/> addresses are tracked; beyond that, new addresses
/// share one budget, so a client with many addresses gains nothing and memory stays bounded.
/// </summary>
internal sealed class FailedAuthThrottle
{
    public const int MaxTrackedClients = 10_000;

    private readonly ConcurrentDictionary<string, RateBudget> _clients = new(StringComparer.Ordinal);
    private readonly RateBudget _overflow;
    private readonly int _limit;
    private readonly TimeSpan _window;
    private readonly TimeProvider _time;
    private int _count;

    public FailedAuthThrottle(int limit, TimeSpan window, TimeProvider time)
    {
        _limit = limit;
        _window = window;
        _time = time;
        _overflow = new RateBudget(limit, window, time);
    }

    /// <summary>True when <paramref name="address"/> has spent its failures; <paramref name="retryAfter"/> says until when.</summary>
    public bool IsBlocked(IPAddress? address, out TimeSpan retryAfter)
    {
        var budget = _clients.TryGetValue(ClientKey(address), out var known) ? known : Untracked();
        if (budget is null)
        {
            retryAfter = TimeSpan.Zero;
            return false;
        }

        return budget.IsSpent(out retryAfter);
    }

    /// <summary>Counts one failed authentication from <paramref name="address"/>.</summary>
    public void RecordFailure(IPAddress? address)
    {
        var key = ClientKey(address);
        if (!_clients.TryGetValue(key, out var budget))
        {
            if (Volatile.Read(ref _count) >= MaxTrackedClients)
            {
                Prune();
            }

            if (Volatile.Read(ref _count) < MaxTrackedClients)
            {
                var fresh = new RateBudget(_limit, _window, _time);
                if (_clients.TryAdd(key, fresh))
                {
                    Interlocked.Increment(ref _count);
                    budget = fresh;
                }
                else
                {
                    budget = _clients.TryGetValue(key, out var raced) ? raced : _overflow;
                }
            }
            else
            {
                budget = _overflow;
            }
        }

        budget.TryTake(out _);
    }

    /// <summary>An address not tracked shares the overflow budget only while the table is full.</summary>
    private RateBudget? Untracked() => Volatile.Read(ref _count) >= MaxTrackedClients ? _overflow : null;

    /// <summary>Forgets addresses whose budget is whole again (their last failure is a window old).</summary>
    private void Prune()
    {
        foreach (var (key, budget) in _clients)
        {
            if (budget.IsFull && _clients.TryRemove(key, out _))
            {
                Interlocked.Decrement(ref _count);
            }
        }
    }

    private static string ClientKey(IPAddress? address)
    {
        if (address is null)
        {
            return "";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes).ToString() + "/64";
    }
}
