using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.Limits;
using Dynamo.Gateway.Observability;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Gateway.Tests;

/// <summary>Admission in sequences: a request holds one slot per sequence, waiters are served in arrival order.</summary>
public sealed class AdmissionControllerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task WideRequest_HoldsOneSlotPerSequence_UntilDisposed()
    {
        using var admission = Create(capacity: 8, queue: 0);

        var wide = await admission.EnterAsync(8, CancellationToken.None);

        Assert.Equal(8, admission.AdmittedSequences);
        var refused = await Assert.ThrowsAsync<OpenAiException>(() => admission.EnterAsync(1, CancellationToken.None).AsTask());
        Assert.Equal(429, refused.StatusCode);

        wide.Dispose();
        Assert.Equal(0, admission.AdmittedSequences);
        using var narrow = await admission.EnterAsync(1, CancellationToken.None);
        Assert.Equal(1, admission.AdmittedSequences);
    }

    [Fact]
    public async Task Waiters_AreAdmittedInArrivalOrder_WideOnesNotStarvedByNarrowOnes()
    {
        using var admission = Create(capacity: 4, queue: 10);
        var first = await admission.EnterAsync(3, CancellationToken.None);

        var wide = admission.EnterAsync(4, CancellationToken.None).AsTask();
        var narrow = admission.EnterAsync(1, CancellationToken.None).AsTask();

        // One slot is free, but the narrow request came after the wide one: it waits its turn.
        Assert.Equal(2, admission.Queued);
        Assert.False(narrow.IsCompleted);

        first.Dispose();
        using var wideSlot = await wide.WaitAsync(Wait);
        Assert.Equal(4, admission.AdmittedSequences);
        Assert.False(narrow.IsCompleted);

        wideSlot.Dispose();
        using var narrowSlot = await narrow.WaitAsync(Wait);
        Assert.Equal(1, admission.AdmittedSequences);
    }

    [Fact]
    public async Task WiderThanCapacity_WaitsForAllSlotsAndRunsAlone()
    {
        using var admission = Create(capacity: 4, queue: 10);
        var small = await admission.EnterAsync(1, CancellationToken.None);

        var huge = admission.EnterAsync(100, CancellationToken.None).AsTask();
        Assert.False(huge.IsCompleted);

        small.Dispose();
        using var slot = await huge.WaitAsync(Wait);
        Assert.Equal(4, admission.AdmittedSequences);
    }

    [Fact]
    public async Task QueueTimeout_Is429_AndTheWaiterLeavesTheQueue()
    {
        var time = new FakeTimeProvider();
        using var admission = Create(capacity: 2, queue: 10, time);
        using var held = await admission.EnterAsync(2, CancellationToken.None);

        var waiting = admission.EnterAsync(1, CancellationToken.None).AsTask();
        time.Advance(TimeSpan.FromSeconds(31));

        var error = await Assert.ThrowsAsync<OpenAiException>(() => waiting.WaitAsync(Wait));
        Assert.Equal(429, error.StatusCode);
        Assert.Equal(0, admission.Queued);
        Assert.Equal(2, admission.AdmittedSequences);
    }

    [Fact]
    public async Task CancelledWaiter_LeavesTheQueue_AndThoseBehindMoveUp()
    {
        using var admission = Create(capacity: 4, queue: 10);
        var held = await admission.EnterAsync(2, CancellationToken.None);
        using var leave = new CancellationTokenSource();

        var wide = admission.EnterAsync(4, leave.Token).AsTask();
        var narrow = admission.EnterAsync(2, CancellationToken.None).AsTask();
        Assert.False(narrow.IsCompleted);

        await leave.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wide.WaitAsync(Wait));
        using var narrowSlot = await narrow.WaitAsync(Wait);
        Assert.Equal(4, admission.AdmittedSequences);
        held.Dispose();
        Assert.Equal(2, admission.AdmittedSequences);
    }

    private static AdmissionController Create(int capacity, int queue, TimeProvider? time = null) =>
        new(new GatewayOptions { MaxConcurrentRequests = capacity, MaxQueuedRequests = queue, QueueTimeout = TimeSpan.FromSeconds(30) }, time ?? TimeProvider.System, new GatewayMetrics());
}
