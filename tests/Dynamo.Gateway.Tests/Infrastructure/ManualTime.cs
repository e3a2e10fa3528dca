namespace Dynamo.Gateway.Tests.Infrastructure;

/// <summary>A clock that moves only when told (timestamps in ticks).</summary>
internal sealed class ManualTime : TimeProvider
{
    private long _now = TimeSpan.FromHours(1).Ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => _now;

    public void Advance(TimeSpan by) => _now += by.Ticks;
}
