using System.Net;
using Dynamo.Gateway.Security;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

public sealed class FailedAuthThrottleTests
{
    [Fact]
    public void Address_PastTheLimit_IsBlockedUntilAFailureAgesOut_OthersAreNot()
    {
        var time = new ManualTime();
        var throttle = new FailedAuthThrottle(3, TimeSpan.FromMinutes(1), time);
        var client = IPAddress.Parse("10.0.0.7");

        for (var i = 0; i < 3; i++)
        {
            Assert.False(throttle.IsBlocked(client, out _), $"blocked after {i} failures of 3");
            throttle.RecordFailure(client);
        }

        Assert.True(throttle.IsBlocked(client, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(20), retryAfter);
        Assert.False(throttle.IsBlocked(IPAddress.Parse("10.0.0.8"), out _));
        Assert.False(throttle.IsBlocked(IPAddress.Parse("::ffff:10.0.0.8"), out _));

        time.Advance(TimeSpan.FromSeconds(20));
        Assert.False(throttle.IsBlocked(client, out _));
    }

    [Fact]
    public void Ipv6_CountsPerSlash64_AndMappedIpv4CountsAsIpv4()
    {
        var throttle = new FailedAuthThrottle(2, TimeSpan.FromMinutes(1), new ManualTime());

        throttle.RecordFailure(IPAddress.Parse("2001:db8:1:2::1"));
        throttle.RecordFailure(IPAddress.Parse("2001:db8:1:2:ffff::9"));
        throttle.RecordFailure(IPAddress.Parse("::ffff:192.0.2.1"));
        throttle.RecordFailure(IPAddress.Parse("192.0.2.1"));

        Assert.True(throttle.IsBlocked(IPAddress.Parse("2001:db8:1:2:abcd::1"), out _));
        Assert.False(throttle.IsBlocked(IPAddress.Parse("2001:db8:1:3::1"), out _));
        Assert.True(throttle.IsBlocked(IPAddress.Parse("192.0.2.1"), out _));
    }

    [Fact]
    public void FullTable_NewAddressesShareOneBudget()
    {
        var throttle = new FailedAuthThrottle(1, TimeSpan.FromMinutes(1), new ManualTime());
        for (var i = 0; i < FailedAuthThrottle.MaxTrackedClients; i++)
        {
            throttle.RecordFailure(new IPAddress(0x0A000000u + (uint)i));
        }

        throttle.RecordFailure(IPAddress.Parse("203.0.113.1"));

        Assert.True(throttle.IsBlocked(IPAddress.Parse("203.0.113.2"), out _));
    }
}
