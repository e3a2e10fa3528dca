using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.Limits;
using Dynamo.Gateway.Observability;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// <c>nvext.priority</c> at the admission queue: higher priorities are served first, FIFO within a priority, with
/// aging (a priority level is worth <c>PriorityAging</c> of waiting); a full queue sheds its lowest priority first.
/// </summary>
public sealed class AdmissionPriorityTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Waiters_AreServedByPriority_ThenArrival()
    {
        var time = new FakeTimeProvider();
        using var admission = Create(capacity: 1, queue: 10, time);
        var held = await admission.EnterAsync(1, CancellationToken.None);

        var arrivals = new (string Name, int Priority)[] { ("low", -1), ("first0", 0), ("high", 5), ("second0", 0), ("higher", 6) };
        var waiting = arrivals.Select(a => (a.Name, Task: admission.EnterAsync(1, CancellationToken.None, a.Priority).AsTask())).ToList();
        Assert.Equal(5, admission.Queued);

        var order = new List<string>();
        var slot = held;
        while (waiting.Count > 0)
        {
            slot.Dispose();
            await Task.WhenAny(waiting.Select(w => w.Task)).WaitAsync(Wait);
            var granted = Assert.Single(waiting, w => w.Task.IsCompletedSuccessfully);
            order.Add(granted.Name);
            slot = await granted.Task;
            waiting.Remove(granted);
        }

        slot.Dispose();
        Assert.Equal(["higher", "high", "first0", "second0", "low"], order);
    }

    [Fact]
    public async Task Aging_ALowPriorityThatWaitedLongEnough_IsNotPassed()
    {
        // A level is worth 1 s: a priority-0 request that has waited 3 s goes before a priority-2 arrival (2 s head
        // start), but after a priority-5 one.
        var time = new FakeTimeProvider();
        using var admission = Create(capacity: 1, queue: 10, time);
        var held = await admission.EnterAsync(1, CancellationToken.None);
        var old = admission.EnterAsync(1, CancellationToken.None, 0).AsTask();
        time.Advance(TimeSpan.FromSeconds(3));
        var two = admission.EnterAsync(1, CancellationToken.None, 2).AsTask();
        var five = admission.EnterAsync(1, CancellationToken.None, 5).AsTask();

        held.Dispose();
        var first = await five.WaitAsync(Wait);
        Assert.False(old.IsCompleted || two.IsCompleted);
        first.Dispose();
        var second = await old.WaitAsync(Wait);
        Assert.False(two.IsCompleted);
        second.Dispose();
        (await two.WaitAsync(Wait)).Dispose();
    }

    [Fact]
    public async Task FullQueue_ShedsTheYoungestOfTheLowestPriority_ForAHigherArrival()
    {
        var metrics = new GatewayMetrics();
        using var admission = Create(capacity: 1, queue: 3, new FakeTimeProvider(), metrics);
        using var held = await admission.EnterAsync(1, CancellationToken.None);
        var lowOld = admission.EnterAsync(1, CancellationToken.None, -2).AsTask();
        var lowYoung = admission.EnterAsync(1, CancellationToken.None, -2).AsTask();
        var normal = admission.EnterAsync(1, CancellationToken.None, 0).AsTask();

        // Full: an arrival of no higher priority than the lowest waiting one is refused itself.
        var refused = await Assert.ThrowsAsync<OpenAiException>(() => admission.EnterAsync(1, CancellationToken.None, -2).AsTask());
        Assert.Equal(429, refused.StatusCode);
        Assert.False(lowOld.IsCompleted || lowYoung.IsCompleted || normal.IsCompleted);

        // A higher one takes the youngest lowest-priority request's place; that one gets the 429.
        var urgent = admission.EnterAsync(1, CancellationToken.None, 3).AsTask();
        var shed = await Assert.ThrowsAsync<OpenAiException>(() => lowYoung.WaitAsync(Wait));
        Assert.Equal(429, shed.StatusCode);
        Assert.Contains("higher priority", shed.Message, StringComparison.Ordinal);
        Assert.Equal(3, admission.Queued);
        Assert.False(lowOld.IsCompleted);
        Assert.Equal(1, metrics.RequestsShed.Value);

        // Another priority-0 arrival sheds the other priority -2 request, never the priority-0 or 3 ones.
        var another = admission.EnterAsync(1, CancellationToken.None, 0).AsTask();
        await Assert.ThrowsAsync<OpenAiException>(() => lowOld.WaitAsync(Wait));
        Assert.False(normal.IsCompleted || urgent.IsCompleted || another.IsCompleted);
        Assert.Equal(2, metrics.RequestsShed.Value);
    }

    [Fact]
    public async Task AHigherPriorityNarrowRequest_PassesAWideOneThatDoesNotFit()
    {
        using var admission = Create(capacity: 4, queue: 10, new FakeTimeProvider());
        var held = await admission.EnterAsync(3, CancellationToken.None);
        var wide = admission.EnterAsync(4, CancellationToken.None).AsTask();

        // Same priority: the narrow one waits behind the wide one (no starvation of wide requests)...
        var narrow = admission.EnterAsync(1, CancellationToken.None).AsTask();
        Assert.False(narrow.IsCompleted);

        // ...a higher priority goes first, into the free slot.
        using var urgent = await admission.EnterAsync(1, CancellationToken.None, 1).AsTask().WaitAsync(Wait);
        Assert.Equal(4, admission.AdmittedSequences);
        Assert.False(wide.IsCompleted || narrow.IsCompleted);
        held.Dispose();
    }

    private static AdmissionController Create(int capacity, int queue, TimeProvider time, GatewayMetrics? metrics = null) =>
        new(new GatewayOptions { MaxConcurrentRequests = capacity, MaxQueuedRequests = queue, QueueTimeout = TimeSpan.FromSeconds(30), PriorityAging = TimeSpan.FromSeconds(1) },
            time, metrics ?? new GatewayMetrics());
}
