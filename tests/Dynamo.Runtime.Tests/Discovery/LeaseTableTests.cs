using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Runtime.Discovery;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Runtime.Tests.Discovery;

public sealed class LeaseTableTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new();
    private readonly LeaseTable _table = new();

    [Fact]
    public void Renew_FirstSight_IsAdded_ThenRenewed_ThenReplacedWhenTheDescriptionChanges()
    {
        Assert.Equal(LeaseRenewal.Added, _table.Renew("b.w1", Instance("w1"), Ttl, _time.GetTimestamp(), out _));
        Assert.Equal(LeaseRenewal.Renewed, _table.Renew("b.w1", Instance("w1"), Ttl, _time.GetTimestamp(), out _));
        Assert.Equal(LeaseRenewal.Replaced, _table.Renew("b.w1", Instance("w1", port: 2), Ttl, _time.GetTimestamp(), out var previous));
        Assert.Equal(Instance("w1"), previous);
        Assert.Equal(Instance("w1", port: 2), Assert.Single(_table.Snapshot()));
    }

    [Fact]
    public void RemoveExpired_DropsOnlyLeasesNotRenewedForTheirTtl()
    {
        _table.Renew("b.w1", Instance("w1"), Ttl, _time.GetTimestamp(), out _);
        _table.Renew("b.w2", Instance("w2"), Ttl, _time.GetTimestamp(), out _);
        _time.Advance(TimeSpan.FromSeconds(6));
        _table.Renew("b.w2", Instance("w2"), Ttl, _time.GetTimestamp(), out _);

        _time.Advance(TimeSpan.FromSeconds(3.9));
        Assert.Empty(_table.RemoveExpired(_time.GetTimestamp(), _time));
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal([Instance("w1")], _table.RemoveExpired(_time.GetTimestamp(), _time));
        Assert.Equal([Instance("w2")], _table.Snapshot());
    }

    [Fact]
    public void RemoveExpired_UsesEachOwnersLease()
    {
        _table.Renew("b.short", Instance("short"), TimeSpan.FromSeconds(2), _time.GetTimestamp(), out _);
        _table.Renew("b.long", Instance("long"), TimeSpan.FromSeconds(30), _time.GetTimestamp(), out _);
        _time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal([Instance("short")], _table.RemoveExpired(_time.GetTimestamp(), _time));
        Assert.Equal(TimeSpan.FromSeconds(28), _table.NextExpiry(_time.GetTimestamp(), _time));
    }

    [Fact]
    public void NextExpiry_IsNullWhenEmpty_AndZeroWhenOverdue()
    {
        Assert.Null(_table.NextExpiry(_time.GetTimestamp(), _time));
        _table.Renew("b.w1", Instance("w1"), Ttl, _time.GetTimestamp(), out _);
        Assert.Equal(Ttl, _table.NextExpiry(_time.GetTimestamp(), _time));
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(TimeSpan.Zero, _table.NextExpiry(_time.GetTimestamp(), _time));
    }

    [Fact]
    public void RenewAll_AfterAnOutage_GivesEveryInstanceOneMoreLease()
    {
        _table.Renew("b.w1", Instance("w1"), Ttl, _time.GetTimestamp(), out _);
        _time.Advance(TimeSpan.FromSeconds(60));

        _table.RenewAll(_time.GetTimestamp());

        Assert.Empty(_table.RemoveExpired(_time.GetTimestamp(), _time));
        _time.Advance(Ttl);
        Assert.Single(_table.RemoveExpired(_time.GetTimestamp(), _time));
    }

    [Fact]
    public void TryRemove_ReturnsTheInstanceOnce()
    {
        _table.Renew("b.w1", Instance("w1"), Ttl, _time.GetTimestamp(), out _);

        Assert.True(_table.TryRemove("b.w1", out var removed));
        Assert.Equal(Instance("w1"), removed);
        Assert.False(_table.TryRemove("b.w1", out _));
        Assert.False(_table.Contains("b.w1"));
    }

    private static WorkerInstance Instance(string id, int port = 1) => new()
    {
        InstanceId = id,
        Model = "m",
        Role = WorkerRole.Aggregated,
        Address = new Uri($"http://127.0.0.1:{port}/"),
    };
}
