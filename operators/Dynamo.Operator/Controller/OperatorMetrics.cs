using Dynamo.Runtime.Observability;
using Prometheus;

namespace Dynamo.Operator.Controller;

/// <summary>The operator's Prometheus metrics, in a registry of its own (served by <c>dynamo operator</c> on its metrics port).</summary>
public sealed class OperatorMetrics
{
    public OperatorMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        Reconciles = factory.CreateCounter(MetricNames.OperatorReconcileTotal, "Reconciles of DynamoGraphDeployments, by result (success, invalid, error).", "result");
        ReconcileDuration = factory.CreateHistogram(MetricNames.OperatorReconcileDuration, "Time one reconcile took.", new HistogramConfiguration
        {
            Buckets = Histogram.ExponentialBuckets(0.001, 2, 16),
        });
        QueueDepth = factory.CreateGauge(MetricNames.OperatorQueueDepth, "Graph keys waiting in the work queue.");
        ObjectWrites = factory.CreateCounter(MetricNames.OperatorObjectWritesTotal, "Objects created, updated or deleted, by kind and action.", "kind", "action");
        Leader = factory.CreateGauge(MetricNames.OperatorLeader, "1 while this replica holds the leader Lease.");
    }

    public CollectorRegistry Registry { get; }

    public Counter Reconciles { get; }

    public Histogram ReconcileDuration { get; }

    public Gauge QueueDepth { get; }

    public Counter ObjectWrites { get; }

    public Gauge Leader { get; }
}
