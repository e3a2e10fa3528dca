using Dynamo.Contracts.Routing;
using Dynamo.Runtime.Observability;
using Prometheus;

namespace Dynamo.Gateway.Observability;

/// <summary>
/// The gateway's Prometheus metrics, in a registry of its own: the embedded cluster runs a gateway and several
/// workers in one process and each serves only its own <c>/metrics</c>.
/// </summary>
internal sealed class GatewayMetrics
{
    private static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60];
    private static readonly double[] TokenBuckets = Histogram.ExponentialBuckets(1, 2, 18);

    // Prompt and overlap blocks routed to each worker, for its hit-rate gauge (worker ids come from discovery, as the
    // decisions counter's worker label does).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, WorkerBlocks> _workerBlocks = new(StringComparer.Ordinal);

    // Each model's series, looked up once: WithLabels hashes its labels and allocates on every call, nine per request.
    // Model labels are configured names or "unknown" (CompletionPipeline), so this holds a few entries.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ModelSeries> _models = new(StringComparer.Ordinal);

    // Routing decisions' counter children by policy and worker (as many as the series themselves).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Policy, string Worker), Counter.Child> _decisions = new();

    public GatewayMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        RequestsTotal = factory.CreateCounter(MetricNames.FrontendRequestsTotal, "Requests received, by model, endpoint, request type and outcome.",
            "model", "endpoint", "request_type", "status");
        Inflight = factory.CreateGauge(MetricNames.FrontendInflightRequests, "Requests being served.", "model");
        Queued = factory.CreateGauge(MetricNames.FrontendQueuedRequests, "Requests waiting for a concurrency slot.");
        AdmittedSequences = factory.CreateGauge(MetricNames.FrontendAdmittedSequences,
            "Concurrency slots held: one per sequence (prompt × n) of the requests admitted.");
        RequestsShed = factory.CreateCounter(MetricNames.FrontendRequestsShedTotal,
            "Queued requests refused (429) to make room in the full admission queue for a request of higher nvext.priority.");
        BusyHeldTotal = factory.CreateCounter(MetricNames.FrontendBusyHeldRequestsTotal,
            "Requests held in the gateway, unsent, because every worker that could serve them was busy (Dynamo:Router:BusyKvUsage, BusyWaitingRequests).");
        BusyHeld = factory.CreateGauge(MetricNames.FrontendHeldRequests, "Requests held now because every worker that could serve them is busy.");
        BusyRefused = factory.CreateCounter(MetricNames.FrontendBusyRefusedRequestsTotal,
            "Held requests answered Dynamo:Gateway:BusyStatus (429 or 503) because no worker freed within Dynamo:Gateway:BusyWait.");
        RouterBusyWorkers = factory.CreateGauge(MetricNames.RouterBusyWorkers,
            "Workers over a busy threshold now, by reason: kv_usage (Dynamo:Router:BusyKvUsage) or waiting_requests (BusyWaitingRequests); a worker over both counts under both.",
            "reason");
        Tokenizing = factory.CreateGauge(MetricNames.FrontendTokenizingRequests, "Requests whose prompts are being templated and tokenized.");
        TokenizationsCancelled = factory.CreateCounter(MetricNames.FrontendTokenizationsCancelledTotal,
            "Tokenizations stopped part-way because the client went away.");
        TimeToFirstToken = factory.CreateHistogram(MetricNames.FrontendTimeToFirstToken, "Time from request arrival to the first token.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = LatencyBuckets });
        InterTokenLatency = factory.CreateHistogram(MetricNames.FrontendInterTokenLatency, "Time between tokens of one stream.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = LatencyBuckets });
        RequestDuration = factory.CreateHistogram(MetricNames.FrontendRequestDuration, "Time from request arrival to the last byte.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = LatencyBuckets });
        InputTokens = factory.CreateHistogram(MetricNames.FrontendInputSequenceTokens, "Prompt length in tokens.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = TokenBuckets });
        OutputTokens = factory.CreateHistogram(MetricNames.FrontendOutputSequenceTokens, "Generated tokens per request.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = TokenBuckets });
        CachedTokens = factory.CreateCounter(MetricNames.FrontendCachedTokensTotal, "Prompt tokens served from workers' prefix caches.", "model");
        Migrations = factory.CreateCounter(MetricNames.FrontendMigrationsTotal, "Requests moved to another worker after their worker failed.", "model");
        DisaggPrefills = factory.CreateCounter(MetricNames.FrontendDisaggPrefillsTotal,
            "Where prompts were prefilled while prefill workers were up: remote (prefill pool) or local (decode worker), and why.", "path", "reason");
        KvPinReleases = factory.CreateCounter(MetricNames.FrontendKvPinReleasesTotal,
            "Prefill workers told to release a prompt's KV pins that no decode will read, by why (client_gone, decode_failed, prefill_failed).", "reason");
        RemotePrefillDuration = factory.CreateHistogram(MetricNames.FrontendRemotePrefillDuration, "Time a prefill worker took to compute a prompt and hand its KV over.",
            new HistogramConfiguration { Buckets = LatencyBuckets });
        AuthFailures = factory.CreateCounter(MetricNames.FrontendAuthFailuresTotal,
            "Requests refused for authentication: invalid_key (missing or wrong key), throttled (the client address failed too often).", "reason");
        RouterDecisions = factory.CreateCounter(MetricNames.RouterDecisionsTotal, "Routing decisions, by policy and worker.", "policy", "worker");
        RouterSessionDecisions = factory.CreateCounter(MetricNames.RouterSessionDecisionsTotal,
            "Routing decisions for requests with an nvext.session_id: new (first seen, or forgotten), hit (the session's worker), moved (its worker was gone or overloaded).",
            "outcome");
        RouterKvHitRate = factory.CreateGauge(MetricNames.RouterKvHitRate,
            "Share of routed prompt blocks already cached on the chosen worker, since start (the router's prediction).");
        RouterPromptBlocks = factory.CreateCounter(MetricNames.RouterPromptBlocksTotal, "Full prompt blocks of routed requests.");
        RouterOverlapBlocks = factory.CreateCounter(MetricNames.RouterOverlapBlocksTotal, "Of those, blocks the chosen worker already held.");
        RouterOverlap = factory.CreateHistogram(MetricNames.RouterOverlapBlocks, "Prompt blocks the chosen worker already held, per decision.",
            new HistogramConfiguration { Buckets = [0, .. TokenBuckets] });
        RouterDecisionDuration = factory.CreateHistogram(MetricNames.RouterDecisionDuration, "Time the router took to choose a worker.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1e-6, 2, 16) });
        RouterPredictedTtft = factory.CreateHistogram(MetricNames.RouterPredictedTtft,
            "The KV router's predicted time to first token per decision: choice=chosen (the worker it picked) or best_alternative (the best other candidate).",
            new HistogramConfiguration { LabelNames = ["choice"], Buckets = LatencyBuckets });
        RouterRebalanced = factory.CreateCounter(MetricNames.RouterRebalancedTotal,
            "Decisions the KV router's balance thresholds moved off the cheapest worker (Dynamo:Router:BalanceAbsoluteThreshold, BalanceRelativeThreshold).");
        RouterWorkerKvHitRate = factory.CreateGauge(MetricNames.RouterWorkerKvHitRate,
            "Share of the prompt blocks routed to each worker that it already held, since start (the router's prediction).", "worker");
        ResponsesStored = factory.CreateGauge(MetricNames.FrontendStoredResponses,
            "Responses API responses kept for previous_response_id and GET /v1/responses/{id}.");
        ResponsesEvicted = factory.CreateCounter(MetricNames.FrontendStoredResponsesEvictedTotal,
            "Stored responses dropped before they expired to stay within Dynamo:Gateway:Responses:StoreMaxEntries and StoreMaxBytes.");
        RejectedSignedRecords = factory.CreateCounter(MetricNames.FrontendRejectedSignedRecordsTotal,
            "Discovery records, events and transfer metadata dropped because their cluster signature did not verify, by kind and reason.", "kind", "reason");
    }

    public CollectorRegistry Registry { get; }

    public Counter RequestsTotal { get; }

    public Counter AuthFailures { get; }

    public Gauge Inflight { get; }

    public Gauge Queued { get; }

    public Counter RequestsShed { get; }

    public Gauge AdmittedSequences { get; }

    public Counter BusyHeldTotal { get; }

    public Gauge BusyHeld { get; }

    public Counter BusyRefused { get; }

    public Gauge RouterBusyWorkers { get; }

    public Gauge Tokenizing { get; }

    public Counter TokenizationsCancelled { get; }

    public Histogram TimeToFirstToken { get; }

    public Histogram InterTokenLatency { get; }

    public Histogram RequestDuration { get; }

    public Histogram InputTokens { get; }

    public Histogram OutputTokens { get; }

    public Counter CachedTokens { get; }

    public Gauge ResponsesStored { get; }

    public Counter ResponsesEvicted { get; }

    public Counter RouterDecisions { get; }

    public Counter RouterSessionDecisions { get; }

    public Counter Migrations { get; }

    public Counter DisaggPrefills { get; }

    public Counter KvPinReleases { get; }

    public Histogram RemotePrefillDuration { get; }

    public Gauge RouterKvHitRate { get; }

    public Histogram RouterPredictedTtft { get; }

    public Counter RouterRebalanced { get; }

    public Gauge RouterWorkerKvHitRate { get; }

    public Counter RouterPromptBlocks { get; }

    public Counter RouterOverlapBlocks { get; }

    public Histogram RouterOverlap { get; }

    public Histogram RouterDecisionDuration { get; }

    public Counter RejectedSignedRecords { get; }

    /// <summary>The series labelled with <paramref name="model"/> alone, and its request counters.</summary>
    public ModelSeries ForModel(string model) => _models.GetOrAdd(model, static (name, metrics) => new ModelSeries(metrics, name), this);

    /// <summary>Exports <paramref name="rejections"/> (counted by the NATS connection) at each scrape.</summary>
    public void Track(Runtime.Security.SignatureRejections rejections) => Registry.AddBeforeCollectCallback(() =>
    {
        foreach (var (kind, reason, count) in rejections.Snapshot())
        {
            RejectedSignedRecords.WithLabels(kind, reason).IncTo(count);
        }
    });

    /// <summary>The traffic counters summed over every label set (models, endpoints, outcomes).</summary>
    public TrafficTotals Traffic()
    {
        return new TrafficTotals(
            SumCounter(RequestsTotal),
            SumGauge(Inflight),
            Queued.Value,
            SumHistogram(InputTokens, h => h.Sum),
            SumHistogram(InputTokens, h => h.Count),
            SumHistogram(OutputTokens, h => h.Sum),
            SumHistogram(OutputTokens, h => h.Count),
            SumHistogram(TimeToFirstToken, h => h.Sum),
            SumHistogram(TimeToFirstToken, h => h.Count),
            SumHistogram(InterTokenLatency, h => h.Sum),
            SumHistogram(InterTokenLatency, h => h.Count),
            SumCounter(CachedTokens));

        static double SumCounter(Counter counter) => counter.GetAllLabelValues().Sum(labels => counter.WithLabels(labels).Value);

        static double SumGauge(Gauge gauge) => gauge.GetAllLabelValues().Sum(labels => gauge.WithLabels(labels).Value);

        static double SumHistogram(Histogram histogram, Func<Histogram.Child, double> read) =>
            histogram.GetAllLabelValues().Sum(labels => read(histogram.WithLabels(labels)));
    }

    /// <summary>One routing decision: counts, overlap, the running hit rate and how long the choice took.</summary>
    public void RecordDecision(RoutingDecision decision, TimeSpan elapsed)
    {
        _decisions.GetOrAdd((decision.Policy, decision.Worker.InstanceId), static (key, counter) => counter.WithLabels(key.Policy, key.Worker), RouterDecisions).Inc();
        if (decision.Session != SessionRouting.None)
        {
            RouterSessionDecisions.WithLabels(decision.Session switch
            {
                SessionRouting.Hit => "hit",
                SessionRouting.Moved => "moved",
                _ => "new",
            }).Inc();
        }

        RouterDecisionDuration.Observe(elapsed.TotalSeconds);
        RouterOverlap.Observe(decision.OverlapBlocks);
        var blocks = decision.PromptTokens / Math.Max(1, decision.Worker.BlockSize);
        if (blocks > 0)
        {
            RouterPromptBlocks.Inc(blocks);
            RouterOverlapBlocks.Inc(Math.Min(decision.OverlapBlocks, blocks));
            RouterKvHitRate.Set(RouterOverlapBlocks.Value / RouterPromptBlocks.Value);
            var worker = _workerBlocks.GetOrAdd(decision.Worker.InstanceId, static (id, gauge) => new WorkerBlocks(gauge.WithLabels(id)), RouterWorkerKvHitRate);
            worker.HitRate.Set(worker.Add(blocks, Math.Min(decision.OverlapBlocks, blocks)));
        }

        if (decision.PredictedTtftMs is { } chosen)
        {
            RouterPredictedTtft.WithLabels("chosen").Observe(chosen / 1000);
        }

        if (decision.AlternativeTtftMs is { } alternative)
        {
            RouterPredictedTtft.WithLabels("best_alternative").Observe(alternative / 1000);
        }

        if (decision.Rebalanced)
        {
            RouterRebalanced.Inc();
        }
    }

    private sealed class WorkerBlocks(Gauge.Child hitRate)
    {
        public Gauge.Child HitRate { get; } = hitRate;

        private long _prompt;
        private long _overlap;

        public double Add(long prompt, long overlap)
        {
            var total = Interlocked.Add(ref _prompt, prompt);
            return (double)Interlocked.Add(ref _overlap, overlap) / total;
        }
    }

    /// <summary>One model's children of the per-model series (<see cref="ForModel"/>).</summary>
    internal sealed class ModelSeries(GatewayMetrics metrics, string model)
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Endpoint, string Type, string Status), Counter.Child> _requests = new();

        public Gauge.Child Inflight { get; } = metrics.Inflight.WithLabels(model);

        public Histogram.Child RequestDuration { get; } = metrics.RequestDuration.WithLabels(model);

        public Histogram.Child TimeToFirstToken { get; } = metrics.TimeToFirstToken.WithLabels(model);

        public Histogram.Child InterTokenLatency { get; } = metrics.InterTokenLatency.WithLabels(model);

        public Histogram.Child InputTokens { get; } = metrics.InputTokens.WithLabels(model);

        public Histogram.Child OutputTokens { get; } = metrics.OutputTokens.WithLabels(model);

        public Counter.Child CachedTokens { get; } = metrics.CachedTokens.WithLabels(model);

        /// <summary><c>dynamo_frontend_requests_total</c> of this model (endpoints, request types and outcomes are few).</summary>
        public Counter.Child Requests(string endpoint, string requestType, string status) =>
            _requests.GetOrAdd((endpoint, requestType, status), static (key, state) =>
                state.metrics.RequestsTotal.WithLabels(state.model, key.Endpoint, key.Type, key.Status), (metrics, model));
    }
}
