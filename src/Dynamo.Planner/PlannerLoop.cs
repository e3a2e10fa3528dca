using System.Globalization;
using Dynamo.Contracts;
using Microsoft.Extensions.Logging;

namespace Dynamo.Planner;

/// <summary>
/// The live planner: every <see cref="PlannerLoopOptions.Interval"/> it observes (<see cref="ILoadObserver"/>), decides
/// (<see cref="IScalingPolicy"/>) and acts (<see cref="IScalingConnector.SetTargetsAsync"/>) unless advisory. Time
/// comes from a <see cref="TimeProvider"/>, so tests drive it with a fake clock.
/// </summary>
/// <remarks>
/// What the loop itself guarantees, whatever the policy: an interval without an observation holds the current size
/// and says so (<see cref="DecisionReason.NoData"/>); no change is asked while the previous one is still being carried
/// out (<see cref="DecisionReason.Pending"/>); advisory mode logs and exports but never asks
/// (<see cref="DecisionReason.Advisory"/>); and workers not ready within <see cref="PlannerLoopOptions.ReadyTimeout"/>
/// of being asked for are given up and counted, so an unstartable worker cannot freeze the pools. Every decision is
/// logged with its inputs and reason and exported as <c>dynamo_planner_*</c>.
/// </remarks>
public sealed partial class PlannerLoop
{
    private readonly ILoadObserver _observer;
    private readonly IScalingPolicy _policy;
    private readonly IScalingConnector _connector;
    private readonly PlannerLoopOptions _options;
    private readonly PlannerMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<WorkerRole, DateTimeOffset> _shortSince = [];
    private bool _holdingForNoData;

    public PlannerLoop(
        ILoadObserver observer, IScalingPolicy policy, IScalingConnector connector, PlannerLoopOptions options, PlannerMetrics metrics, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(observer);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(connector);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        if (options.Problems("PlannerLoopOptions") is { Count: > 0 } problems)
        {
            throw new ArgumentException(string.Join(" ", problems), nameof(options));
        }

        _observer = observer;
        _policy = policy;
        _connector = connector;
        _options = options;
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    /// <summary>The last step's outcome; null before the first.</summary>
    public PlannerStep? LastStep { get; private set; }

    /// <summary>Steps taken so far.</summary>
    public long Steps { get; private set; }

    /// <summary>Takes a step every interval (the first one interval after the start) until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        LogStarting(_logger, _connector.Name, _options.Interval.TotalSeconds, _options.Advisory, _options.ReadyTimeout.TotalSeconds);
        using var timer = new PeriodicTimer(_options.Interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await StepAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // A policy bug or an unexpected failure costs one interval, not the planner.
                    LogStepFailed(_logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        LogStopped(_logger, Steps);
    }

    /// <summary>One observe → decide → act step.</summary>
    public async Task<PlannerStep> StepAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        Steps++;
        IReadOnlyList<PoolState> pools;
        try
        {
            pools = await _connector.GetPoolsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _metrics.ConnectorFailures.WithLabels("get_pools").Inc();
            return Finish(new PlannerStep(now, DecisionReason.NoData, Acted: false, [], null, null,
                $"the {_connector.Name} connector could not list the pools ({ex.Message}); nothing is changed"));
        }

        var gaveUp = await GiveUpUnreadyAsync(now, pools, cancellationToken).ConfigureAwait(false);
        if (gaveUp is not null)
        {
            pools = [.. pools.Select(p => gaveUp.TryGetValue(p.Role, out var n) ? p with { Desired = n } : p)];
        }

        LoadObservation observation;
        try
        {
            observation = await _observer.ObserveAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _metrics.ObservationFailures.Inc();
            _metrics.RecordPools(pools, null);
            if (!_holdingForNoData)
            {
                _holdingForNoData = true;
                LogNoData(_logger, ex.Message, PoolNames.Describe(pools));
            }

            return Finish(new PlannerStep(now, DecisionReason.NoData, Acted: false, pools, null, null,
                $"metrics source unreachable ({ex.Message}); holding {PoolNames.Describe(pools)}"));
        }

        if (_holdingForNoData)
        {
            _holdingForNoData = false;
            LogDataBack(_logger);
        }

        _metrics.RecordObservation(observation);
        var decision = _policy.Decide(new PlannerInput(now, observation, pools));
        _metrics.RecordPrediction(decision);
        RecordExpectedLatency(decision, observation, pools);

        var reason = decision.Reason;
        var acted = false;
        var detail = decision.Detail;
        if (decision.ChangesAnything(pools))
        {
            if (_options.Advisory)
            {
                reason = DecisionReason.Advisory;
                detail = $"advisory, not carried out: {decision.Reason} {PoolNames.Describe(pools, decision.Targets)}; {decision.Detail}";
            }
            else if (decision.Reason == DecisionReason.ReadyTimeout)
            {
                // The policy gives up on workers that never became ready: carried out even though the pool is not settled.
                foreach (var pool in pools)
                {
                    if (decision.Targets.TryGetValue(pool.Role, out var n) && n < pool.Desired)
                    {
                        _metrics.FailedStarts.WithLabels(PoolNames.Of(pool.Role)).Inc(pool.Desired - n);
                    }
                }

                acted = await SetTargetsAsync(pools, decision.Targets, $"{PoolNames.Of(decision.Reason)}: {decision.Detail}", cancellationToken).ConfigureAwait(false);
            }
            else if (gaveUp is not null || pools.Any(p => !p.Settled))
            {
                reason = DecisionReason.Pending;
                detail = $"the last change is still being carried out ({Progress(pools)}); not asking {PoolNames.Describe(pools, decision.Targets)} ({decision.Reason}) yet";
            }
            else
            {
                acted = await SetTargetsAsync(pools, decision.Targets, $"{PoolNames.Of(decision.Reason)}: {decision.Detail}", cancellationToken).ConfigureAwait(false);
                if (!acted)
                {
                    detail = $"the {_connector.Name} connector refused {PoolNames.Describe(pools, decision.Targets)}; {decision.Detail}";
                }
            }
        }

        else if (reason == DecisionReason.Hold && pools.Any(p => !p.Settled))
        {
            reason = DecisionReason.Pending;
            detail = $"waiting for the last change ({Progress(pools)}); {decision.Detail}";
        }

        _metrics.RecordPools(pools, acted || _options.Advisory ? decision.Targets : null);
        return Finish(new PlannerStep(now, reason, acted, pools, observation, decision, detail));
    }

    /// <summary>
    /// The SLA planner's expected TTFT and ITL for the predicted load on the pools as they are (disaggregated), or at
    /// the load its last plan was made for: what a benchmark of the live system can be checked against.
    /// </summary>
    private void RecordExpectedLatency(PlannerDecision decision, LoadObservation observation, IReadOnlyList<PoolState> pools)
    {
        if (_policy is not SlaPlanner sla)
        {
            return;
        }

        var prefill = pools.FirstOrDefault(p => p.Role == WorkerRole.Prefill)?.Ready ?? 0;
        var decode = pools.FirstOrDefault(p => p.Role == WorkerRole.Decode)?.Ready ?? 0;
        if (prefill >= 1 && decode >= 1 && decision.PredictedRequestRate > 0 && decision.PredictedInputTokens >= 1 && decision.PredictedOutputTokens >= 1)
        {
            var expected = sla.Expect(decision.PredictedRequestRate, decision.PredictedInputTokens, decision.PredictedOutputTokens, observation.KvHitRate, prefill, decode);
            _metrics.RecordExpected(expected.TtftMs, expected.ItlMs);
        }
        else if (sla.LastPlan is { } plan)
        {
            _metrics.RecordExpected(plan.ExpectedTtftMs, plan.ExpectedItlMs);
        }
    }

    private PlannerStep Finish(PlannerStep step)
    {
        _metrics.Decisions.WithLabels(PoolNames.Of(step.Reason)).Inc();
        LastStep = step;
        var o = step.Observation;
        var d = step.Decision;
        var pools = d is not null && (step.Acted || step.Reason == DecisionReason.Advisory)
            ? PoolNames.Describe(step.Pools, d.Targets)
            : PoolNames.Describe(step.Pools);
        LogDecision(
            _logger,
            PoolNames.Of(step.Reason),
            step.Acted,
            pools,
            Progress(step.Pools),
            o is null ? "none" : string.Create(CultureInfo.InvariantCulture,
                $"{o.RequestRate:F2} req/s, ISL {o.MeanInputTokens:F0}, OSL {o.MeanOutputTokens:F0}, TTFT {Ms(o.TtftMs)}, ITL {Ms(o.ItlMs)}, {o.Workers.Count} load reports"),
            d is null ? "none" : string.Create(CultureInfo.InvariantCulture,
                $"{d.PredictedRequestRate:F2} req/s, ISL {d.PredictedInputTokens:F0}, OSL {d.PredictedOutputTokens:F0}"),
            step.Detail);
        return step;

        static string Ms(double? value) => value is { } v ? string.Create(CultureInfo.InvariantCulture, $"{v:F1} ms") : "n/a";
    }

    /// <summary>
    /// Pools short of ready workers for longer than the ready timeout: their target goes back to what is ready and
    /// the missing workers are counted as failed starts. Null when none timed out (or in advisory mode, which never acts).
    /// </summary>
    private async Task<Dictionary<WorkerRole, int>?> GiveUpUnreadyAsync(DateTimeOffset now, IReadOnlyList<PoolState> pools, CancellationToken cancellationToken)
    {
        Dictionary<WorkerRole, int>? giveUp = null;
        foreach (var pool in pools)
        {
            if (pool.Ready >= pool.Desired)
            {
                _shortSince.Remove(pool.Role);
                continue;
            }

            if (!_shortSince.TryGetValue(pool.Role, out var since))
            {
                _shortSince[pool.Role] = now;
                continue;
            }

            if (_options.Advisory || now - since < _options.ReadyTimeout)
            {
                continue;
            }

            var missing = pool.Desired - pool.Ready;
            _metrics.FailedStarts.WithLabels(PoolNames.Of(pool.Role)).Inc(missing);
            LogGaveUp(_logger, missing, PoolNames.Of(pool.Role), (now - since).TotalSeconds, pool.Desired, pool.Actual, pool.Ready);
            (giveUp ??= [])[pool.Role] = pool.Ready;
            _shortSince.Remove(pool.Role);
        }

        if (giveUp is not null)
        {
            var targets = pools.ToDictionary(p => p.Role, p => giveUp.TryGetValue(p.Role, out var n) ? n : p.Desired);
            await SetTargetsAsync(pools, targets, $"ready timeout: workers not ready within {_options.ReadyTimeout.TotalSeconds:F0} s were given up", cancellationToken).ConfigureAwait(false);
        }

        return giveUp;
    }

    private async Task<bool> SetTargetsAsync(IReadOnlyList<PoolState> pools, IReadOnlyDictionary<WorkerRole, int> targets, string reason, CancellationToken cancellationToken)
    {
        try
        {
            await _connector.SetTargetsAsync(new ScalingTargets(targets, reason), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _metrics.ConnectorFailures.WithLabels("set_targets").Inc();
            LogActFailed(_logger, _connector.Name, PoolNames.Describe(pools, targets), ex.Message);
            return false;
        }

        foreach (var pool in pools)
        {
            if (targets.TryGetValue(pool.Role, out var n) && n != pool.Desired)
            {
                _metrics.ScalingActions.WithLabels(PoolNames.Of(pool.Role), n > pool.Desired ? "up" : "down").Inc();
                if (n > pool.Desired)
                {
                    // The ready clock starts when the workers are asked for.
                    _shortSince[pool.Role] = _time.GetUtcNow();
                }
            }
        }

        return true;
    }

    private static string Progress(IReadOnlyList<PoolState> pools) =>
        pools.Count == 0 ? "no pools" : string.Join(", ", pools.Select(p => $"{PoolNames.Of(p.Role)} {p.Ready}/{p.Actual}/{p.Desired} ready/actual/desired"));

    [LoggerMessage(Level = LogLevel.Information, Message = "Planner started: connector {Connector}, every {IntervalSeconds} s, advisory {Advisory}, ready timeout {ReadyTimeoutSeconds} s")]
    private static partial void LogStarting(ILogger logger, string connector, double intervalSeconds, bool advisory, double readyTimeoutSeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Planner stopped after {Steps} steps")]
    private static partial void LogStopped(ILogger logger, long steps);

    [LoggerMessage(Level = LogLevel.Information, Message = "Planner decision {Reason} (acted {Acted}): {Pools}; pools {Progress}; observed {Observed}; predicted {Predicted}; {Detail}")]
    private static partial void LogDecision(ILogger logger, string reason, bool acted, string pools, string progress, string observed, string predicted, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Planner: metrics source unreachable ({Reason}); holding the current size ({Pools}) until it answers")]
    private static partial void LogNoData(ILogger logger, string reason, string pools);

    [LoggerMessage(Level = LogLevel.Information, Message = "Planner: metrics source answers again; deciding again")]
    private static partial void LogDataBack(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Planner: gave up {Missing} {Pool} worker(s) not ready after {Seconds:F0} s (desired {Desired}, actual {Actual}, ready {Ready}); counted as failed starts")]
    private static partial void LogGaveUp(ILogger logger, int missing, string pool, double seconds, int desired, int actual, int ready);

    [LoggerMessage(Level = LogLevel.Error, Message = "Planner: the {Connector} connector could not carry out {Targets}: {Reason}")]
    private static partial void LogActFailed(ILogger logger, string connector, string targets, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Planner step failed; trying again next interval")]
    private static partial void LogStepFailed(ILogger logger, Exception exception);
}

/// <summary>What one planner step did.</summary>
/// <param name="At">When it ran.</param>
/// <param name="Reason">The effective reason (the loop's own: no data, pending, advisory; otherwise the policy's).</param>
/// <param name="Acted">Whether new targets were asked of the connector.</param>
/// <param name="Pools">The pools as the connector reported them at the start of the step.</param>
/// <param name="Observation">What was observed; null when nothing could be.</param>
/// <param name="Decision">The policy's decision; null when the policy was not asked.</param>
/// <param name="Detail">The logged explanation.</param>
public sealed record PlannerStep(
    DateTimeOffset At,
    DecisionReason Reason,
    bool Acted,
    IReadOnlyList<PoolState> Pools,
    LoadObservation? Observation,
    PlannerDecision? Decision,
    string Detail);
