using Dynamo.Operator.Controller;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Operator.Tests;

public sealed class WorkQueueTests
{
    private static async Task<string?> TakeAsync(WorkQueue queue, int timeoutMs = 5000)
    {
        using var timeout = new CancellationTokenSource(timeoutMs);
        return await queue.TakeAsync(timeout.Token);
    }

    [Fact]
    public async Task Add_SameKeyTwice_IsTakenOnce()
    {
        using var queue = new WorkQueue(new FakeTimeProvider());
        queue.Add("ns/a");
        queue.Add("ns/b");
        queue.Add("ns/a");
        Assert.Equal(2, queue.Depth);
        Assert.Equal("ns/a", await TakeAsync(queue));
        Assert.Equal("ns/b", await TakeAsync(queue));
        Assert.Equal(0, queue.Depth);
    }

    [Fact]
    public async Task Add_WhileProcessing_IsQueuedAgainOnlyAfterDone()
    {
        using var queue = new WorkQueue(new FakeTimeProvider());
        queue.Add("ns/a");
        var key = await TakeAsync(queue);
        queue.Add("ns/a");
        queue.Add("ns/a");
        Assert.Equal(0, queue.Depth);
        queue.Done(key!);
        Assert.Equal(1, queue.Depth);
        Assert.Equal("ns/a", await TakeAsync(queue));
    }

    [Fact]
    public void Backoff_DoublesPerFailureUpToTheCap()
    {
        using var queue = new WorkQueue(new FakeTimeProvider(), TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromMilliseconds(100), queue.AddRateLimited("k"));
        Assert.Equal(TimeSpan.FromMilliseconds(200), queue.AddRateLimited("k"));
        Assert.Equal(TimeSpan.FromMilliseconds(400), queue.AddRateLimited("k"));
        Assert.Equal(TimeSpan.FromMilliseconds(800), queue.AddRateLimited("k"));
        Assert.Equal(TimeSpan.FromSeconds(1), queue.AddRateLimited("k"));
        Assert.Equal(5, queue.Failures("k"));
        queue.Forget("k");
        Assert.Equal(TimeSpan.FromMilliseconds(100), queue.AddRateLimited("k"));
        Assert.Equal(TimeSpan.FromMilliseconds(100), queue.AddRateLimited("other"));
    }

    [Fact]
    public async Task AddRateLimited_ComesBackOnlyAfterItsDelay()
    {
        var time = new FakeTimeProvider();
        using var queue = new WorkQueue(time, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
        queue.AddRateLimited("k");
        queue.AddRateLimited("k");
        Assert.Equal(0, queue.Depth);
        Assert.Equal(1, queue.Delayed);
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(0, queue.Depth);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, queue.Depth);
        Assert.Equal("k", await TakeAsync(queue));
        queue.Done("k");
        // The second failure's later delay (2 s) was folded into the earlier one: the key comes once.
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(0, queue.Depth);
    }

    [Fact]
    public async Task AddAfter_DelayedKeyAlsoAddedNow_IsTakenOnceAndTheTimerIsHarmless()
    {
        var time = new FakeTimeProvider();
        using var queue = new WorkQueue(time);
        queue.AddAfter("k", TimeSpan.FromSeconds(1));
        queue.Add("k");
        Assert.Equal("k", await TakeAsync(queue));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, queue.Depth);
        queue.Done("k");
        Assert.Equal(1, queue.Depth);
    }

    [Fact]
    public async Task ShutDown_ReleasesWaitingTakers()
    {
        using var queue = new WorkQueue(new FakeTimeProvider());
        var first = queue.TakeAsync(CancellationToken.None).AsTask();
        var second = queue.TakeAsync(CancellationToken.None).AsTask();
        queue.ShutDown();
        Assert.Null(await first.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Null(await second.WaitAsync(TimeSpan.FromSeconds(5)));
        queue.Add("late");
        Assert.Equal(0, queue.Depth);
    }
}
