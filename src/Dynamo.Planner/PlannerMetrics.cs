using Dynamo.Contracts;
using Dynamo.Runtime.Observability;
using Prometheus;

namespace Dynamo.Planner;

/// <summary>
/// The planner's Prometheus metrics, in a registry of its own (as the gateway's and each worker's): the embedded
/// gateway serves them beside its own on <c>/metrics</c>, <c>dynamo planner</c> on its metrics port.
/// </summary>
public sealed class PlannerMetrics
{
    public PlannerMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        PredictedRequestRate = factory.CreateGauge(MetricNames.PlannerPredictedRequestRate, "Request rate the policy predicted for the next interval, req/s.");
        PredictedInputTokens = factory.CreateGauge(MetricNames.PlannerPredictedInputTokens, "Mean prompt length (ISL) predicted for the next interval, tokens.");
        PredictedOutputTokens = factory.CreateGauge(MetricNames.PlannerPredictedOutputTokens, "Mean output length (OSL) predicted for the next interval, tokens.");
        ObservedRequestRate = factory.CreateGauge(MetricNames.PlannerObservedRequestRate, "Request rate observed over the last interval, req/s.");
        ObservedTimeToFirstToken = factory.CreateGauge(MetricNames.PlannerObservedTimeToFirstToken, "Mean time to first token observed over the last interval with finished requests.");
        ObservedInterTokenLatency = factory.CreateGauge(MetricNames.PlannerObservedInterTokenLatency, "Mean inter-token latency observed over the last interval with finished requests.");
        ExpectedTimeToFirstToken = factory.CreateGauge(MetricNames.PlannerExpectedTimeToFirstToken, "TTFT the SLA planner expects for the predicted load on the ready pools (disagg), or at its last plan's load.");
        ExpectedInterTokenLatency = factory.CreateGauge(MetricNames.PlannerExpectedInterTokenLatency, "ITL the SLA planner expects for the predicted load on the ready pools (disagg), or at its last plan's load.");
        DesiredWorkers = factory.CreateGauge(MetricNames.PlannerDesiredWorkers, "Workers the planner wants in each pool (asked of the connector unless advisory).", "pool");
        ActualWorkers = factory.CreateGauge(MetricNames.PlannerActualWorkers, "Workers that exist in each pool, ready or starting (draining ones not counted).", "pool");
        ReadyWorkers = factory.CreateGauge(MetricNames.PlannerReadyWorkers, "Workers registered and serving in each pool.", "pool");
        Decisions = factory.CreateCounter(MetricNames.PlannerDecisionsTotal, "Planner decisions, one per interval, by reason.", "reason");
        ScalingActions = factory.CreateCounter(MetricNames.PlannerScalingActionsTotal, "Pool target changes carried out, by pool and direction.", "pool", "direction");
        FailedStarts = factory.CreateCounter(MetricNames.PlannerFailedStartsTotal, "Workers given up because they were not ready within the ready timeout, by pool.", "pool");
        ObservationFailures = factory.CreateCounter(MetricNames.PlannerObservationFailuresTotal, "Intervals without an observation (metrics source unreachable); the size was held.");
        ConnectorFailures = factory.CreateCounter(MetricNames.PlannerConnectorFailuresTotal, "Connector calls that failed, by operation (get_pools, set_targets).", "operation");
    }

    public CollectorRegistry Registry { get; }

    public Gauge PredictedRequestRate { get; }

    public Gauge PredictedInputTokens { get; }

    public Gauge PredictedOutputTokens { get; }

    public Gauge ObservedRequestRate { get; }

    public Gauge ObservedTimeToFirstToken { get; }

    public Gauge ObservedInterTokenLatency { get; }

    public Gauge ExpectedTimeToFirstToken { get; }

    public Gauge ExpectedInterTokenLatency { get; }

    public Gauge DesiredWorkers { get; }

    public Gauge ActualWorkers { get; }

    public Gauge ReadyWorkers { get; }

    public Counter Decisions { get; }

    public Counter ScalingActions { get; }

    public Counter FailedStarts { get; }

    public Counter ObservationFailures { get; }

    public Counter ConnectorFailures { get; }

    internal void RecordPools(IReadOnlyList<PoolState> pools, IReadOnlyDictionary<WorkerRole, int>? desired)
    {
        foreach (var pool in pools)
        {
            var name = PoolNames.Of(pool.Role);
            DesiredWorkers.WithLabels(name).Set(desired is not null && desired.TryGetValue(pool.Role, out var n) ? n : pool.Desired);
            ActualWorkers.WithLabels(name).Set(pool.Actual);
            ReadyWorkers.WithLabels(name).Set(pool.Ready);
        }
    }

    internal void RecordObservation(LoadObservation observation)
    {
        ObservedRequestRate.Set(observation.RequestRate);
        if (observation.TtftMs is { } ttft)
        {
            ObservedTimeToFirstToken.Set(ttft / 1000);
        }

        if (observation.ItlMs is { } itl)
        {
            ObservedInterTokenLatency.Set(itl / 1000);
        }
    }

    internal void RecordExpected(double ttftMs, double itlMs)
    {
        // Saturated (infinite) expectations are not exported as numbers: the gauge keeps its last finite value.
        if (double.IsFinite(ttftMs))
        {
            ExpectedTimeToFirstToken.Set(ttftMs / 1000);
        }

        if (double.IsFinite(itlMs))
        {
            ExpectedInterTokenLatency.Set(itlMs / 1000);
        }
    }

    internal void RecordPrediction(PlannerDecision decision)
    {
        PredictedRequestRate.Set(decision.PredictedRequestRate);
        PredictedInputTokens.Set(decision.PredictedInputTokens);
        PredictedOutputTokens.Set(decision.PredictedOutputTokens);
    }
}
