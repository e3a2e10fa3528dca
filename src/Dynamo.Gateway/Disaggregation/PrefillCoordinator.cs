using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.OpenAi;
using Dynamo.Contracts.Routing;
using Dynamo.Gateway.Forwarding;
using Dynamo.Gateway.Models;
using Dynamo.Gateway.Observability;
using Microsoft.Extensions.Logging;

namespace Dynamo.Gateway.Disaggregation;

/// <summary>
/// The gateway's half of disaggregated serving (DESIGN.md, Disaggregation): given the decode worker the router
/// chose, decides whether the prompt is worth prefilling in the prefill pool, asks the router for a prefill worker
/// (KV-aware), and calls it for one token with <c>{"do_remote_decode": true}</c>. What comes back is the
/// <c>kv_transfer_params</c> the decode request carries so the decode worker reads the prompt's KV instead of
/// computing it. Every failure here ends in "prefill locally": the request is never lost to the prefill pool.
/// </summary>
internal sealed partial class PrefillCoordinator
{
    private static readonly MediaTypeHeaderValue s_json = new("application/json");
    private static readonly JsonElement s_doRemoteDecode = JsonDocument.Parse("""{"do_remote_decode":true}""").RootElement.Clone();
    private static readonly TimeSpan ReleaseTimeout = TimeSpan.FromSeconds(5);

    private readonly DisaggregationOptions _options;
    private readonly WorkerDirectory _workers;
    private readonly WorkerHealth _health;
    private readonly IWorkerRouter _router;
    private readonly HttpMessageInvoker _http;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, int> _inflight = new(StringComparer.Ordinal);

    public PrefillCoordinator(GatewayOptions options, WorkerDirectory workers, WorkerHealth health, IWorkerRouter router,
        HttpMessageInvoker http, GatewayMetrics metrics, ILogger<PrefillCoordinator> logger)
    {
        _options = options.Disaggregation;
        _workers = workers;
        _health = health;
        _router = router;
        _http = http;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Whether <paramref name="model"/> has a prefill pool at all (an aggregated deployment has none).</summary>
    public bool HasPrefillPool(string model) => _workers.PrefillCandidates(model).Count > 0;

    /// <summary>
    /// Prefills <paramref name="prompt"/> remotely when the conditions hold; returns the decode request's
    /// <c>kv_transfer_params</c> and where they came from, or null when the decode worker is to prefill the prompt
    /// itself. When the client goes away during the call, the prefill worker is told to release the prompt's pins.
    /// Hand the result to <see cref="Release"/> unless the decode request completed.
    /// </summary>
    public async Task<RemotePrefill?> TryPrefillAsync(ParsedRequest request, int[] prompt, RoutingDecision decode, Activity? activity, CancellationToken cancellationToken)
    {
        var uncached = Math.Max(0, prompt.Length - (decode.OverlapBlocks * decode.Worker.BlockSize));
        if (uncached < _options.MinRemotePrefillTokens)
        {
            return Local("short_prompt");
        }

        if (uncached < _options.MinUncachedFraction * prompt.Length)
        {
            return Local("cached_on_decode");
        }

        var candidates = Available(request.Model);
        if (candidates is null)
        {
            return Local("no_prefill_worker");
        }

        if (candidates.Count == 0)
        {
            return Local("prefill_busy");
        }

        var prefill = _router.Select(new RoutingRequest(decode.RequestId + "-prefill", request.Model, prompt, 1), candidates);
        var worker = prefill.Worker;
        _inflight.AddOrUpdate(worker.InstanceId, 1, (_, n) => n + 1);
        activity?.AddEvent(new ActivityEvent("dynamo.prefill", tags: new ActivityTagsCollection
        {
            ["dynamo.prefill.worker"] = worker.InstanceId,
            ["dynamo.prefill.overlap_blocks"] = prefill.OverlapBlocks,
            ["dynamo.prefill.uncached_tokens"] = uncached,
        }));
        var start = Stopwatch.GetTimestamp();
        try
        {
            PrefillOutcome outcome;
            try
            {
                outcome = await CallAsync(request, prompt, worker, decode.RequestId, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The client left mid-prefill: the worker may have pinned the prompt's blocks already.
                Release(new RemotePrefill(s_doRemoteDecode, worker, decode.RequestId), "client_gone");
                throw;
            }

            if (outcome.Params is { } kv)
            {
                _metrics.DisaggPrefills.WithLabels("remote", "").Inc();
                _metrics.RemotePrefillDuration.Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
                return new RemotePrefill(kv, worker, decode.RequestId);
            }

            if (outcome.Declined)
            {
                LogPrefillDeclined(worker.InstanceId, decode.RequestId);
                return Local("prefill_declined");
            }

            LogPrefillFailed(worker.InstanceId, decode.RequestId, outcome.Problem!);
            if (outcome.WorkerUnreachable)
            {
                _health.MarkFailed(worker);
            }
            else
            {
                // Timed out or answered something unusable: whatever it pinned has no reader.
                Release(new RemotePrefill(s_doRemoteDecode, worker, decode.RequestId), "prefill_failed");
            }

            activity?.AddEvent(new ActivityEvent("dynamo.prefill.fallback", tags: new ActivityTagsCollection { ["dynamo.prefill.problem"] = outcome.Problem }));
            return Local("prefill_failed");
        }
        finally
        {
            _inflight.AddOrUpdate(worker.InstanceId, 0, (_, n) => n - 1);
            _router.MarkPrefilled(prefill);
            _router.Complete(prefill);
        }
    }

    /// <summary>Healthy prefill workers below their in-flight limit; null when the model has no healthy prefill worker at all.</summary>
    private List<WorkerInstance>? Available(string model)
    {
        var all = _workers.PrefillCandidates(model);
        var anyHealthy = false;
        var available = new List<WorkerInstance>(all.Count);
        foreach (var worker in all)
        {
            if (!_health.IsHealthy(worker.InstanceId))
            {
                continue;
            }

            anyHealthy = true;
            if (_inflight.GetValueOrDefault(worker.InstanceId) < _options.MaxInflightPrefillsPerWorker)
            {
                available.Add(worker);
            }
        }

        return anyHealthy ? available : null;
    }

    private RemotePrefill? Local(string reason)
    {
        _metrics.DisaggPrefills.WithLabels("local", reason).Inc();
        return null;
    }

    /// <summary>
    /// Tells the prefill worker that the prompt's KV will not be read (<paramref name="reason"/>: the client went away,
    /// the decode failed), so its pins go now rather than at the pin timeout. Fire and forget: a release that does not
    /// arrive leaves the timeout as the backstop.
    /// </summary>
    public void Release(RemotePrefill prefill, string reason)
    {
        _metrics.KvPinReleases.WithLabels(reason).Inc();
        _ = ReleaseAsync(prefill);
    }

    private async Task ReleaseAsync(RemotePrefill prefill)
    {
        try
        {
            using var timeout = new CancellationTokenSource(ReleaseTimeout);
            var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["request_id"] = prefill.RequestId });
            using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(prefill.Worker.Address, "v1/kv_transfer/release"))
            {
                Content = new ByteArrayContent(body) { Headers = { ContentType = s_json } },
            };
            using var response = await _http.SendAsync(message, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                LogReleaseFailed(prefill.Worker.InstanceId, prefill.RequestId, $"HTTP {(int)response.StatusCode}");
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            LogReleaseFailed(prefill.Worker.InstanceId, prefill.RequestId, e.Message);
        }
    }

    private async Task<PrefillOutcome> CallAsync(ParsedRequest request, int[] prompt, WorkerInstance worker, string requestId, CancellationToken cancellationToken)
    {
        var body = WorkerRequestWriter.Write(request with { KvTransferParams = s_doRemoteDecode, N = 1 }, [prompt], maxTokens: 1, stream: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.PrefillTimeout);
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(worker.Address, "v1/completions"))
        {
            Content = new ByteArrayContent(body) { Headers = { ContentType = s_json } },
        };
        message.Headers.TryAddWithoutValidation("x-request-id", requestId);
        try
        {
            using var response = await _http.SendAsync(message, timeout.Token);
            var bytes = await response.Content.ReadAsByteArrayAsync(timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                return PrefillOutcome.Failed($"HTTP {(int)response.StatusCode}: {Snippet(bytes)}", unreachable: (int)response.StatusCode >= 500);
            }

            using var document = JsonDocument.Parse(bytes);
            if (document.RootElement.TryGetProperty("kv_transfer_params", out var kv)
                && kv.ValueKind == JsonValueKind.Object
                && kv.TryGetProperty("do_remote_prefill", out var flag))
            {
                if (flag.ValueKind == JsonValueKind.True)
                {
                    return new PrefillOutcome(kv.Clone(), null, false);
                }

                if (kv.TryGetProperty("declined", out var declined) && declined.ValueKind == JsonValueKind.String)
                {
                    return new PrefillOutcome(null, $"declined: {declined.GetString()}", false) { Declined = true };
                }
            }

            return PrefillOutcome.Failed("the prefill worker's answer has no kv_transfer_params (a worker without a transfer agent?)", unreachable: false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return PrefillOutcome.Failed($"no answer within {_options.PrefillTimeout.TotalSeconds:0.#} s", unreachable: false);
        }
        catch (HttpRequestException e)
        {
            return PrefillOutcome.Failed(e.Message, unreachable: true);
        }
        catch (JsonException e)
        {
            return PrefillOutcome.Failed($"unreadable answer: {e.Message}", unreachable: false);
        }
    }

    private static string Snippet(byte[] bytes) =>
        System.Text.Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 200));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Remote prefill on {Worker} for request {RequestId} failed, the decode worker prefills locally: {Problem}")]
    private partial void LogPrefillFailed(string worker, string requestId, string problem);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Prefill worker {Worker} declined to pin request {RequestId}'s KV (its pins hold their share of the pool); the decode worker prefills locally")]
    private partial void LogPrefillDeclined(string worker, string requestId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Releasing request {RequestId}'s KV pins on {Worker} failed ({Problem}); they go at the pin timeout")]
    private partial void LogReleaseFailed(string worker, string requestId, string problem);

    private readonly record struct PrefillOutcome(JsonElement? Params, string? Problem, bool WorkerUnreachable)
    {
        public bool Declined { get; init; }

        public static PrefillOutcome Failed(string problem, bool unreachable) => new(null, problem, unreachable);
    }
}
