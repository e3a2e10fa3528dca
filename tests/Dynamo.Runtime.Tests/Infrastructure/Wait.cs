using System.Diagnostics;

namespace Dynamo.Runtime.Tests.Infrastructure;

internal static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    /// <returns>How long it took.</returns>
    public static async Task<TimeSpan> UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (clock.Elapsed > limit)
            {
                Assert.Fail($"Timed out after {limit.TotalSeconds:F1} s waiting for {what}.");
            }

            await Task.Delay(5);
        }

        return clock.Elapsed;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds (true) or <paramref name="timeout"/> passes (false).</summary>
    public static async Task<bool> TryUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(5);
        }

        return true;
    }

    /// <summary>As <see cref="UntilAsync(Func{bool}, string, TimeSpan?)"/> with a condition that must be awaited.</summary>
    public static async Task<TimeSpan> UntilAsync(Func<Task<bool>> condition, Func<string> what, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        while (!await condition())
        {
            if (clock.Elapsed > limit)
            {
                Assert.Fail($"Timed out after {limit.TotalSeconds:F1} s waiting for {what()}.");
            }

            await Task.Delay(20);
        }

        return clock.Elapsed;
    }

    /// <summary>Awaits <paramref name="task"/>; fails naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task ForAsync(Task task, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        try
        {
            await task.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"Timed out after {limit.TotalSeconds:F1} s waiting for {what}.");
        }
    }

    /// <summary>Awaits <paramref name="task"/>; fails naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task<T> ForAsync<T>(Task<T> task, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        try
        {
            return await task.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"Timed out after {limit.TotalSeconds:F1} s waiting for {what}.");
            throw;
        }
    }
}
