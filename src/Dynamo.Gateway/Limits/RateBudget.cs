namespace Dynamo.Gateway.Limits;

/// <summary>
/// At most <c>limit</c> events per <c>window</c>, refilled continuously (the generic cell rate algorithm): a full
/// budget allows a burst of <c>limit</c>, after which one event frees every <c>window / limit</c>. Unlike a bucket
/// refilled once a minute, it knows exactly when the next event will be allowed, so a refusal can say so
/// (<c>Retry-After</c>). One 64-bit state per budget; thread-safe.
/// </summary>
internal sealed class RateBudget
{
    private readonly TimeProvider _time;
    private readonly long _interval;
    private readonly long _tolerance;
    private readonly Lock _lock = new();

    // The theoretical arrival time: the moment the budget would be full again, in TimeProvider timestamps.
    private long _full;

    public RateBudget(int limit, TimeSpan window, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero);
        _time = time;
        var windowTicks = (long)(window.TotalSeconds * time.TimestampFrequency);
        _interval = Math.Max(1, windowTicks / limit);
        _tolerance = windowTicks - _interval;
        _full = time.GetTimestamp();
    }

    /// <summary>Takes one event from the budget; when it is spent, says how long until one is free.</summary>
    public bool TryTake(out TimeSpan retryAfter)
    {
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            var wait = _full - _tolerance - now;
            if (wait > 0)
            {
                retryAfter = ToTimeSpan(wait);
                return false;
            }

            _full = Math.Max(_full, now) + _interval;
            retryAfter = TimeSpan.Zero;
            return true;
        }
    }

    /// <summary>True when no event is left now; <paramref name="retryAfter"/> says when one will be.</summary>
    public bool IsSpent(out TimeSpan retryAfter)
    {
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            var wait = _full - _tolerance - now;
            retryAfter = wait > 0 ? ToTimeSpan(wait) : TimeSpan.Zero;
            return wait > 0;
        }
    }

    /// <summary>True when the budget is whole again (nothing taken within the window): safe to forget.</summary>
    public bool IsFull
    {
        get
        {
            var now = _time.GetTimestamp();
            lock (_lock)
            {
                return _full <= now;
            }
        }
    }

    private TimeSpan ToTimeSpan(long timestamps) => TimeSpan.FromSeconds((double)timestamps / _time.TimestampFrequency);
}
