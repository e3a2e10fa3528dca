using Dynamo.Contracts.Engine;
using Dynamo.Runtime.Observability;
using Prometheus;

namespace Dynamo.Worker;

/// <summary>
/// One worker's Prometheus metrics in its own registry: the embedded cluster runs several workers in one
/// process, and each must export only its own series at its own <c>/metrics</c>.
/// </summary>
internal sealed class WorkerMetrics
{
    private readonly IEngine _engine;
    private readonly Counter _requests;
    private readonly Counter _generatedTokens;
    private readonly Gauge _kvBlocksUsed;
    private readonly Gauge _kvBlocksTotal;
    private readonly Gauge _kvUsage;
    private readonly Gauge _running;
    private readonly Gauge _queueDepth;
    private readonly Gauge _prefixHitRate;
    private readonly Counter _transferBytes;
    private readonly Histogram _transferDuration;
    private readonly Counter _remotePrefills;
    private readonly Gauge? _pinnedBlocks;
    private readonly Counter? _pinsDeclined;
    private readonly Counter? _transferRefused;
    private readonly Counter _unauthenticated;

    public WorkerMetrics(IEngine engine, string instanceId, string model, string role)
    {
        _engine = engine;
        Registry = Metrics.NewCustomRegistry();
        Registry.SetStaticLabels(new Dictionary<string, string>
        {
            ["worker_id"] = instanceId,
            ["model"] = model,
            ["role"] = role,
        });
        var factory = Metrics.WithCustomRegistry(Registry);
        _requests = factory.CreateCounter(MetricNames.WorkerRequestsTotal, "Generation requests handled, by endpoint and HTTP status.", "endpoint", "status");
        _generatedTokens = factory.CreateCounter(MetricNames.WorkerGeneratedTokensTotal, "Tokens generated.");
        _kvBlocksUsed = factory.CreateGauge(MetricNames.WorkerKvBlocksUsed, "KV blocks held by live sequences.");
        _kvBlocksTotal = factory.CreateGauge(MetricNames.WorkerKvTotalBlocks, "KV blocks in the pool.");
        _kvUsage = factory.CreateGauge(MetricNames.WorkerKvUsage, "Fraction of the KV pool held by live sequences, 0..1.");
        _running = factory.CreateGauge(MetricNames.WorkerRunningRequests, "Sequences in the running batch.");
        _queueDepth = factory.CreateGauge(MetricNames.WorkerQueueDepth, "Sequences waiting for KV blocks or a batch slot.");
        _prefixHitRate = factory.CreateGauge(MetricNames.WorkerPrefixCacheHitRate, "Prefix-cache hit rate since start, 0..1.");
        _transferBytes = factory.CreateCounter(MetricNames.WorkerKvTransferBytesTotal, "KV bytes read from prefill workers.");
        _transferDuration = factory.CreateHistogram(MetricNames.WorkerKvTransferDuration, "Time one decode request's read of its prompt's KV took.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 2, 18) });
        _remotePrefills = factory.CreateCounter(MetricNames.WorkerRemotePrefillsTotal,
            "Decode requests sent with a remote prefill: read (outcome remote) or computed here after all (outcome fallback, with the reason).", "outcome", "reason");
        if (engine is IKvTransferPins)
        {
            _pinnedBlocks = factory.CreateGauge(MetricNames.WorkerKvPinnedBlocks, "KV blocks pinned for decode workers to read.");
            _pinsDeclined = factory.CreateCounter(MetricNames.WorkerKvPinsDeclinedTotal,
                "Prefills for a remote decode that pinned nothing because pins held Dynamo:KvTransfer:MaxPinnedFraction of the pool.");
            _transferRefused = factory.CreateCounter(MetricNames.WorkerKvTransferRefusedTotal,
                "Peer KV reads and transfer connections refused: no or an unknown transfer token, ranges outside the pin, other prompt tokens, a used token, a failed handshake.");
        }

        _unauthenticated = factory.CreateCounter(MetricNames.WorkerUnauthenticatedRequestsTotal,
            "Requests refused with 401 for a missing or invalid cluster credential, by reason (missing, malformed, invalid, expired).", "reason");
        if (engine is IKvTransferTelemetry telemetry)
        {
            telemetry.KvTransferDone += OnKvTransfer;
        }

        Registry.AddBeforeCollectCallback(Refresh);
    }

    public CollectorRegistry Registry { get; }

    public void Unauthenticated(string reason) => _unauthenticated.WithLabels(reason).Inc();

    public void RequestDone(string endpoint, int status) => _requests.WithLabels(endpoint, StatusLabel(status)).Inc();

    public void TokensGenerated(int count) => _generatedTokens.Inc(count);

    private void OnKvTransfer(KvTransferRecord record)
    {
        if (record.IsRemote)
        {
            _transferBytes.Inc(record.Bytes);
            _transferDuration.Observe(record.Elapsed.TotalSeconds);
            _remotePrefills.WithLabels("remote", "").Inc();
        }
        else
        {
            _remotePrefills.WithLabels("fallback", record.FallbackReason!).Inc();
        }
    }

    private void Refresh()
    {
        var load = _engine.GetLoad();
        _kvBlocksUsed.Set(load.KvBlocksUsed);
        _kvBlocksTotal.Set(load.KvBlocksTotal);
        _kvUsage.Set(load.KvUsage);
        _running.Set(load.RunningRequests);
        _queueDepth.Set(load.WaitingRequests);
        _prefixHitRate.Set(load.PrefixCacheHitRate);
        if (_engine is IKvTransferPins pins)
        {
            _pinnedBlocks!.Set(pins.PinnedBlocks);
            _pinsDeclined!.IncTo(pins.DeclinedPins);
            _transferRefused!.IncTo(pins.RefusedTransferReads);
        }
    }

    private static string StatusLabel(int status) => status switch
    {
        200 => "200",
        400 => "400",
        404 => "404",
        413 => "413",
        499 => "499",
        503 => "503",
        _ => status.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
