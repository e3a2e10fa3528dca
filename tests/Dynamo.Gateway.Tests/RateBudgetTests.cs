using Dynamo.Gateway.Limits;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

public sealed class RateBudgetTests
{
    [Fact]
    public void FullBudget_AllowsABurstOfTheLimit_ThenSaysExactlyWhenTheNextIsFree()
    {
        var time = new ManualTime();
        var budget = new RateBudget(6, TimeSpan.FromMinutes(1), time);

        for (var i = 0; i < 6; i++)
        {
            Assert.True(budget.TryTake(out _), $"event {i + 1} of a full budget of 6");
        }

        Assert.False(budget.TryTake(out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(10), retryAfter);

        time.Advance(TimeSpan.FromSeconds(4));
        Assert.True(budget.IsSpent(out retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(6), retryAfter);

        time.Advance(TimeSpan.FromSeconds(6));
        Assert.True(budget.TryTake(out _));
        Assert.False(budget.TryTake(out retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(10), retryAfter);
    }

    [Fact]
    public void Budget_UnusedForAWindow_IsFullAgain()
    {
        var time = new ManualTime();
        var budget = new RateBudget(2, TimeSpan.FromSeconds(30), time);
        Assert.True(budget.TryTake(out _));
        Assert.True(budget.TryTake(out _));
        Assert.False(budget.IsFull);

        time.Advance(TimeSpan.FromSeconds(30));

        Assert.True(budget.IsFull);
        Assert.True(budget.TryTake(out _));
        Assert.True(budget.TryTake(out _));
        Assert.False(budget.TryTake(out _));
    }
}
