using Dynamo.Runtime.Observability;
using Dynamo.Contracts.Engine;
using Dynamo.Runtime.Events;

namespace Dynamo.Planner.Observers;

/// <summary>
/// The planner's <see cref="ILoadObserver"/>: the gateways' counters (<see cref="ITrafficSource"/>) differenced between
/// calls, plus the workers' newest load reports (<see cref="WorkerLoadBoard"/>). Embedded, both are read in process;
/// between processes, the counters come from the frontends' <c>/metrics</c> and the reports from NATS.
/// </summary>
/// <remarks>
/// Requests that arrived in an interval are counted as those finished in it plus the change in those in flight or
/// queued (the gateways count a request when it ends). Latencies and lengths are means over the streams that finished.
/// </remarks>
public sealed class ClusterLoadObserver : ILoadObserver
{
    private readonly ITrafficSource _traffic;
    private readonly Func<IReadOnlyList<WorkerLoadReport>> _workers;
    private readonly TimeProvider _time;
    private TrafficTotals? _previous;
    private DateTimeOffset _previousAt;

    /// <param name="workers">Where the workers' load reports are kept; null for none (the observation then lists no workers).</param>
    public ClusterLoadObserver(ITrafficSource traffic, WorkerLoadBoard? workers, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(traffic);
        ArgumentNullException.ThrowIfNull(time);
        _traffic = traffic;
        _workers = workers is null ? static () => [] : workers.Current;
        _time = time;
    }

    /// <summary>Whether a first reading has been taken, so the next observation has an interval to measure.</summary>
    public bool IsPrimed => _previous is not null;

    /// <summary>Takes the first reading (the baseline the first interval is measured from). Throws when the source cannot be read.</summary>
    public async Task PrimeAsync(CancellationToken cancellationToken)
    {
        _previous = await _traffic.ReadAsync(cancellationToken).ConfigureAwait(false);
        _previousAt = _time.GetUtcNow();
    }

    public async Task<LoadObservation> ObserveAsync(CancellationToken cancellationToken)
    {
        var now = await _traffic.ReadAsync(cancellationToken).ConfigureAwait(false);
        var at = _time.GetUtcNow();
        if (_previous is not { } previous)
        {
            _previous = now;
            _previousAt = at;
            throw new InvalidOperationException("first reading of the gateways' counters taken just now; traffic is measured from the next interval");
        }

        if (now.WentBackFrom(previous))
        {
            previous = TrafficTotals.Zero;
        }

        _previous = now;
        var interval = at - _previousAt;
        _previousAt = at;
        var finished = now.FinishedRequests - previous.FinishedRequests;
        var arrived = Math.Max(0, finished + (now.InflightRequests - previous.InflightRequests) + (now.QueuedRequests - previous.QueuedRequests));
        var inputCount = now.InputTokensCount - previous.InputTokensCount;
        var inputSum = now.InputTokensSum - previous.InputTokensSum;
        var outputCount = now.OutputTokensCount - previous.OutputTokensCount;
        var ttftCount = now.TtftCount - previous.TtftCount;
        var itlCount = now.ItlCount - previous.ItlCount;
        return new LoadObservation(
            at,
            interval,
            (long)Math.Round(arrived),
            inputCount > 0 ? inputSum / inputCount : 0,
            outputCount > 0 ? (now.OutputTokensSum - previous.OutputTokensSum) / outputCount : 0,
            ttftCount > 0 ? (now.TtftSecondsSum - previous.TtftSecondsSum) / ttftCount * 1000 : null,
            itlCount > 0 ? (now.ItlSecondsSum - previous.ItlSecondsSum) / itlCount * 1000 : null,
            inputSum > 0 ? Math.Clamp((now.CachedTokens - previous.CachedTokens) / inputSum, 0, 1) : 0,
            _workers());
    }
}
