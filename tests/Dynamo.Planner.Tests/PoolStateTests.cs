using Dynamo.Contracts;
using Dynamo.Planner;

namespace Dynamo.Planner.Tests;

public class PoolStateTests
{
    [Theory]
    [InlineData(2, 2, 2, true)]
    [InlineData(3, 2, 2, false)]  // asked for one more, not started
    [InlineData(3, 3, 2, false)]  // started, not ready
    [InlineData(1, 2, 2, false)]  // asked for one fewer, not drained
    public void Settled_OnlyWhenActualAndReadyMatchDesired(int desired, int actual, int ready, bool settled) =>
        Assert.Equal(settled, new PoolState(WorkerRole.Decode, desired, actual, ready).Settled);

    [Fact]
    public void RequestRate_IsRequestsOverTheInterval()
    {
        var observation = new LoadObservation(DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(4), 10, 100, 20, 50, 10, 0.5, []);
        Assert.Equal(2.5, observation.RequestRate);
        Assert.Equal(0, (observation with { Interval = TimeSpan.Zero }).RequestRate);
    }
}
