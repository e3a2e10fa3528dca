using System.Diagnostics;
using Dynamo.Bench.Load;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Workload;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;
using Dynamo.Contracts.Routing;
using Dynamo.Engine.Mocker;
using Dynamo.KvCache;
using Dynamo.Router;
using HdrHistogram;
using Microsoft.Extensions.Time.Testing;

namespace Dynamo.Bench.Replay;

/// <summary>
/// A discrete-event simulation of a cluster in virtual time: N <see cref="MockerStepper"/> workers (the mocker's
/// real scheduler and block pool), the real router built by <see cref="RouterFactory"/> on a virtual clock and fed
/// the workers' KV events as they happen, and the profile's KV transfer delay between prefill and decode workers.
/// One thread, no timers: time jumps from event to event (arrivals, step ends, transfer ends), so a run is
/// deterministic for a seed and takes as long as its events take to process, not as long as it simulates.
/// </summary>
/// <remarks>
/// Aggregated workers mix prefill chunks and decodes in one step, so a long prefill stalls every decode in its step
/// (the step costs the prefill's time); disaggregated decode workers only decode, except when the conditional rule
/// keeps a short or mostly cached prompt local. TTFT of a remotely prefilled request is taken when its KV has
/// reached the decode worker, which then streams the prefill's first token.
/// </remarks>
public sealed class ClusterSimulator
{
    private static readonly DateTimeOffset Epoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly ReplayOptions _options;
    private readonly FakeTimeProvider _clock = new(Epoch);
    private readonly PriorityQueue<SimEvent, (double Time, long Seq)> _events = new();
    private readonly List<StepOutput> _outputs = [];
    private readonly List<RequestResult> _results = [];
    private readonly List<KvUsageSample> _kvUsage = [];
    private readonly LongHistogram _routerNs = new(10_000_000_000, 3);
    private readonly LongHistogram[] _routerNsByPrompt = [.. DecisionBuckets.Limits.Select(_ => new LongHistogram(10_000_000_000, 3))];
    private readonly LongHistogram _controlNs = new(10_000_000_000, 3);
    private readonly int[] _controlTokens = [.. Enumerable.Range(0, ControlTokens)];
    private readonly ulong[] _controlHashes = new ulong[ControlTokens / 16];
    private readonly HashSet<ulong> _oracleBlocks = [];
    private readonly PromptSynthesizer _prompts;
    private readonly List<SimWorker> _aggregated = [];
    private readonly List<SimWorker> _prefill = [];
    private readonly List<SimWorker> _decode = [];
    private readonly List<WorkerInstance> _aggregatedInstances = [];
    private readonly List<WorkerInstance> _prefillInstances = [];
    private readonly List<WorkerInstance> _decodeInstances = [];
    private readonly Dictionary<string, SimWorker> _byId = new(StringComparer.Ordinal);
    private readonly List<IWorkerRouter> _routers = [];
    private IWorkerRouter _mainRouter = null!;
    private IWorkerRouter? _prefillRouter;
    private long _seq;
    private double _now;
    private int _inFlight;
    private bool _moreArrivals;
    private long _remotePrefills;
    private long _routed;
    private long _eventCount;

    public ClusterSimulator(ReplayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.FirstError() is { } error)
        {
            throw new ArgumentException(error);
        }

        _options = options;
        _prompts = new PromptSynthesizer(options.VocabSize);
    }

    private bool IsOracle => _options.Router == "oracle";

    public async Task<ReplayRun> RunAsync(IEnumerable<BenchRequest> workload, IProgress<BenchProgress>? progress = null, int? expected = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workload);
        long wallStart = Stopwatch.GetTimestamp();
        BuildCluster();
        try
        {
            using IEnumerator<BenchRequest> arrivals = workload.GetEnumerator();
            _moreArrivals = PushNextArrival(arrivals);
            Push(0, SimEvent.Sample());
            int lastReported = 0;
            while (_events.TryDequeue(out SimEvent ev, out (double Time, long Seq) key))
            {
                _eventCount++;
                if (key.Time > _now)
                {
                    _now = key.Time;
                    _clock.SetUtcNow(Epoch + TimeSpan.FromSeconds(_now));
                }

                switch (ev.Kind)
                {
                    case SimEventKind.Arrival:
                        Arrive(ev.Request!);
                        _moreArrivals = PushNextArrival(arrivals);
                        break;
                    case SimEventKind.StepDone:
                        StepDone(ev.Worker!);
                        break;
                    case SimEventKind.TransferDone:
                        TransferDone(ev.Request!);
                        break;
                    case SimEventKind.Sample:
                        Sample();
                        if (_moreArrivals || _inFlight > 0)
                        {
                            Push(_now + _options.SampleIntervalS, SimEvent.Sample());
                        }

                        break;
                }

                if (_results.Count - lastReported >= 64)
                {
                    lastReported = _results.Count;
                    cancellationToken.ThrowIfCancellationRequested();
                    progress?.Report(new BenchProgress(_results.Count, _results.Count(r => !r.Succeeded), expected, Stopwatch.GetElapsedTime(wallStart).TotalSeconds));
                }
            }

            progress?.Report(new BenchProgress(_results.Count, _results.Count(r => !r.Succeeded), expected, Stopwatch.GetElapsedTime(wallStart).TotalSeconds));
        }
        finally
        {
            foreach (IWorkerRouter router in _routers)
            {
                if (router is IAsyncDisposable disposable)
                {
                    await disposable.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        _results.Sort(static (a, b) => a.Index.CompareTo(b.Index));
        double first = _results.Count == 0 ? 0 : _results.Min(r => r.StartS);
        double last = _results.Count == 0 ? 0 : _results.Max(r => r.StartS + (r.E2eMs / 1000));
        var all = _aggregated.Concat(_prefill).Concat(_decode).ToList();
        return new ReplayRun
        {
            Results = _results,
            Workers = [.. all.Select(w => new WorkerReport(
                w.Id,
                w.Role.ToString().ToLowerInvariant(),
                w.Requests,
                w.PromptTokens,
                w.CachedTokens,
                w.OutputTokens,
                last > 0 ? w.BusyS / last : 0,
                w.KvSamples == 0 ? 0 : w.KvUsageSum / w.KvSamples,
                w.PeakKvUsage,
                w.Steps,
                w.Stepper.Preemptions))],
            KvUsage = _kvUsage,
            RouterDecisionUs = Summarize(_routerNs),
            TimingControlUs = Summarize(_controlNs),
            RouterDecisionUsByPrompt = [.. DecisionBuckets.Labels.Select((label, i) => new DecisionBucket(label, Summarize(_routerNsByPrompt[i])))],
            SimulatedS = last - first,
            WallS = Stopwatch.GetElapsedTime(wallStart).TotalSeconds,
            RemotePrefillFraction = _routed == 0 ? 0 : (double)_remotePrefills / _routed,
            Preemptions = all.Sum(w => w.Stepper.Preemptions),
            Events = _eventCount,
        };
    }

    private void BuildCluster()
    {
        var profile = _options.Profile;
        int gpu = 0;
        SimWorker Add(string id, WorkerRole role, List<SimWorker> pool, List<WorkerInstance> instances, (Action<KvEvent>? Feed, Action<WorkerInstance>? Announce) router)
        {
            var instance = new WorkerInstance
            {
                InstanceId = id,
                Model = "sim",
                Role = role,
                Address = new Uri($"http://{id}.sim/"),
                BlockSize = profile.BlockSize,
                TotalKvBlocks = profile.TotalKvBlocks,
                MaxContextLength = profile.MaxContextLength,
            };
            router.Announce?.Invoke(instance);
            var stepper = new MockerStepper(profile.ToMockerOptions(id, "sim"), router.Feed is null ? null : new CallbackSink(router.Feed));
            var worker = new SimWorker(instance, stepper, gpu / profile.GpusPerNode);
            gpu += profile.GpusPerWorker;
            pool.Add(worker);
            instances.Add(instance);
            _byId.Add(id, worker);
            return worker;
        }

        if (_options.IsDisaggregated)
        {
            (_prefillRouter, Action<KvEvent>? prefillFeed, Action<WorkerInstance>? prefillAnnounce) = CreateRouter();
            (_mainRouter, Action<KvEvent>? decodeFeed, Action<WorkerInstance>? decodeAnnounce) = CreateRouter();
            for (int i = 0; i < _options.PrefillWorkers; i++)
            {
                Add($"prefill-{i}", WorkerRole.Prefill, _prefill, _prefillInstances, (prefillFeed, prefillAnnounce));
            }

            for (int i = 0; i < _options.DecodeWorkers; i++)
            {
                Add($"decode-{i}", WorkerRole.Decode, _decode, _decodeInstances, (decodeFeed, decodeAnnounce));
            }
        }
        else
        {
            (_mainRouter, Action<KvEvent>? feed, Action<WorkerInstance>? announce) = CreateRouter();
            for (int i = 0; i < _options.Workers; i++)
            {
                Add($"worker-{i}", WorkerRole.Aggregated, _aggregated, _aggregatedInstances, (feed, announce));
            }
        }
    }

    private (IWorkerRouter Router, Action<KvEvent>? Feed, Action<WorkerInstance>? Announce) CreateRouter()
    {
        RouterMode mode = RouterMode.LeastLoaded;
        if (!IsOracle)
        {
            RouterOptions.TryParseMode(_options.Router, out mode);
        }

        (IWorkerRouter router, Action<KvEvent>? feed, Action<WorkerInstance>? announce) = SimRouterSetup.Create(mode, _options.Seed, _options.PrefillLoadScale, _options.Temperature, _clock);
        _routers.Add(router);
        return (router, feed, announce);
    }

    private bool PushNextArrival(IEnumerator<BenchRequest> arrivals)
    {
        if (!arrivals.MoveNext())
        {
            return false;
        }

        BenchRequest next = arrivals.Current;
        Push(Math.Max(_now, next.Arrival.TotalSeconds), SimEvent.Arrival(new SimRequest(next, measured: true)));
        return true;
    }

    private void Push(double time, SimEvent ev) => _events.Enqueue(ev, (time, _seq++));

    private void Arrive(SimRequest request)
    {
        BenchRequest r = request.Request;
        var profile = _options.Profile;
        if (r.InputLength + r.OutputLength > profile.MaxContextLength)
        {
            // As vLLM and the gateway do: prompt plus max_tokens must fit the context.
            Record(request, ErrorKinds.Rejected);
            return;
        }

        int[] prompt = _prompts.Tokens(r);
        request.Prompt = prompt;
        _inFlight++;
        _routed++;
        if (IsOracle)
        {
            ulong[] hashes = BlockHasher.ComputeSequenceHashes(prompt, profile.BlockSize);
            int held = 0;
            while (held < hashes.Length && _oracleBlocks.Contains(hashes[held]))
            {
                held++;
            }

            foreach (ulong hash in hashes)
            {
                _oracleBlocks.Add(hash);
            }

            request.OracleCachedTokens = held * profile.BlockSize;
        }

        int maxTokens = r.OutputLength;
        if (!_options.IsDisaggregated)
        {
            SimWorker worker = Route(_mainRouter, request, _aggregatedInstances, prompt, maxTokens, out RoutingDecision decision);
            request.Decision = decision;
            request.Worker = worker;
            worker.Stepper.Submit(Engine(request, prompt, maxTokens), tag: request, oracleCachedTokens: request.OracleCachedTokens);
            Kick(worker);
            return;
        }

        SimWorker decode = Route(_mainRouter, request, _decodeInstances, prompt, maxTokens, out RoutingDecision decodeDecision);
        request.Decision = decodeDecision;
        request.Worker = decode;
        if (_prefill.Count > 0 && maxTokens > 1 && ShouldPrefillRemotely(decode, prompt, request.OracleCachedTokens))
        {
            request.RemotePrefill = true;
            _remotePrefills++;
            SimWorker prefill = Route(_prefillRouter!, request, _prefillInstances, prompt, 1, out RoutingDecision prefillDecision);
            request.PrefillDecision = prefillDecision;
            request.PrefillWorker = prefill;
            prefill.Stepper.Submit(Engine(request, prompt, 1), tag: request, oracleCachedTokens: request.OracleCachedTokens);
            Kick(prefill);
            return;
        }

        decode.Stepper.Submit(Engine(request, prompt, maxTokens), tag: request, oracleCachedTokens: request.OracleCachedTokens);
        Kick(decode);
    }

    private bool ShouldPrefillRemotely(SimWorker decode, int[] prompt, int oracleCached)
    {
        int blockSize = _options.Profile.BlockSize;
        ulong[] hashes = BlockHasher.ComputeSequenceHashes(prompt, blockSize);
        int held = Math.Max(decode.Stepper.MatchPrefix(hashes) * blockSize, oracleCached);
        int uncached = prompt.Length - held;
        return uncached >= _options.MinRemotePrefillTokens && (double)uncached / prompt.Length >= _options.MinRemoteUncachedFraction;
    }

    private static EngineRequest Engine(SimRequest request, int[] prompt, int maxTokens) => new()
    {
        RequestId = request.Id,
        PromptTokens = prompt,
        MaxTokens = maxTokens,
        IgnoreEos = true,
    };

    /// <summary>Tokens the timing control hashes (see <see cref="ReplayRun.TimingControlUs"/>).</summary>
    public const int ControlTokens = 16_384;

    private SimWorker Route(IWorkerRouter router, SimRequest request, List<WorkerInstance> candidates, int[] prompt, int maxTokens, out RoutingDecision decision)
    {
        long started = Stopwatch.GetTimestamp();
        decision = router.Select(new RoutingRequest(request.Id, "sim", prompt, maxTokens), candidates);
        long ns = (long)(Stopwatch.GetElapsedTime(started).TotalMilliseconds * 1e6);
        _routerNs.RecordValue(Math.Clamp(ns, 0, 10_000_000_000));
        _routerNsByPrompt[DecisionBuckets.Of(prompt.Length)].RecordValue(Math.Clamp(ns, 0, 10_000_000_000));

        // The control: a fixed computation about as long as a short prompt's decision, timed at the same moments, so
        // a reader can tell the decision's own tail from the one this machine gives any computation that short.
        started = Stopwatch.GetTimestamp();
        BlockHasher.ComputeSequenceHashes(_controlTokens, 16, _controlHashes);
        _controlNs.RecordValue(Math.Clamp((long)(Stopwatch.GetElapsedTime(started).TotalMilliseconds * 1e6), 0, 10_000_000_000));
        return _byId[decision.Worker.InstanceId];
    }

    private void Kick(SimWorker worker)
    {
        if (worker.Busy || !worker.Stepper.TryBeginStep(out MockerStep step))
        {
            return;
        }

        double duration = step.Duration.TotalSeconds;
        worker.Busy = true;
        worker.BusyS += duration;
        worker.Steps++;
        Push(_now + duration, SimEvent.StepDone(worker));
    }

    private void StepDone(SimWorker worker)
    {
        worker.Busy = false;
        _outputs.Clear();
        worker.Stepper.CompleteStep(_outputs);
        foreach (StepOutput output in _outputs)
        {
            Handle(worker, (SimRequest)output.Tag!, output.Output);
        }

        Kick(worker);
    }

    private void Handle(SimWorker worker, SimRequest request, EngineOutput output)
    {
        int input = request.Request.InputLength;
        if (worker.Role == WorkerRole.Prefill)
        {
            request.CachedTokens = output.CachedTokens;
            worker.Requests++;
            worker.PromptTokens += input;
            worker.CachedTokens += output.CachedTokens;
            _prefillRouter!.MarkPrefilled(request.PrefillDecision!);
            _prefillRouter.Complete(request.PrefillDecision!);
            bool sameNode = request.PrefillWorker!.Node == request.Worker!.Node;
            Push(_now + (_options.Profile.TransferMs(input, sameNode) / 1000.0), SimEvent.TransferDone(request));
            return;
        }

        worker.OutputTokens++;
        request.OutputTokens++;
        request.LastTokenS = _now;
        if (request.FirstTokenS is null)
        {
            request.FirstTokenS = _now;
            request.CachedTokens = output.CachedTokens;
            worker.Requests++;
            worker.PromptTokens += input;
            worker.CachedTokens += output.CachedTokens;
            _mainRouter.MarkPrefilled(request.Decision!);
        }

        if (output.Finish is not null)
        {
            _mainRouter.Complete(request.Decision!);
            Record(request, error: null);
        }
    }

    private void TransferDone(SimRequest request)
    {
        SimWorker decode = request.Worker!;
        request.FirstTokenS = _now;
        request.LastTokenS = _now;
        request.OutputTokens = 1;
        decode.Requests++;
        decode.OutputTokens++;
        _mainRouter.MarkPrefilled(request.Decision!);
        int maxTokens = request.Request.OutputLength;
        if (maxTokens <= 1)
        {
            _mainRouter.Complete(request.Decision!);
            Record(request, error: null);
            return;
        }

        decode.Stepper.Submit(Engine(request, request.Prompt!, maxTokens), prefilledRemotely: true, tag: request);
        Kick(decode);
    }

    private void Record(SimRequest request, string? error)
    {
        if (request.Prompt is not null)
        {
            _inFlight--;
        }

        request.Prompt = null;
        double start = request.ArrivalS;
        double? ttft = request.FirstTokenS is { } f ? (f - start) * 1000 : null;
        int n = request.OutputTokens;
        _results.Add(new RequestResult
        {
            Index = request.Request.Index,
            StartS = start,
            InputTokens = request.Request.InputLength,
            OutputTokens = n,
            CachedTokens = error is null ? request.CachedTokens : null,
            TtftMs = ttft,
            ItlMs = n > 1 && request.FirstTokenS is { } first ? (request.LastTokenS - first) * 1000 / (n - 1) : null,
            E2eMs = error is null ? (request.LastTokenS - start) * 1000 : 0,
            Error = error,
            ErrorMessage = error is null ? null : $"prompt of {request.Request.InputLength} tokens plus max_tokens {request.Request.OutputLength} exceeds the profile's context of {_options.Profile.MaxContextLength}",
            Worker = request.RemotePrefill ? $"{request.PrefillWorker!.Id}>{request.Worker!.Id}" : request.Worker?.Id,
            Measured = request.Measured,
        });
    }

    private void Sample()
    {
        var all = _aggregated.Count > 0 ? _aggregated : _prefill.Concat(_decode).ToList();
        double sum = 0, max = 0;
        foreach (SimWorker w in all)
        {
            BlockPoolStats stats = w.Stepper.GetKvStats();
            double usage = stats.TotalBlocks == 0 ? 0 : (double)stats.UsedBlocks / stats.TotalBlocks;
            sum += usage;
            max = Math.Max(max, usage);
            w.PeakKvUsage = Math.Max(w.PeakKvUsage, usage);
            w.KvUsageSum += usage;
            w.KvSamples++;
        }

        _kvUsage.Add(new KvUsageSample(_now, all.Count == 0 ? 0 : sum / all.Count, max, _inFlight));
    }

    private static LatencySummary Summarize(LongHistogram ns) => ns.TotalCount == 0
        ? new LatencySummary()
        : new LatencySummary
        {
            P50 = ns.GetValueAtPercentile(50) / 1000.0,
            P90 = ns.GetValueAtPercentile(90) / 1000.0,
            P99 = ns.GetValueAtPercentile(99) / 1000.0,
            Mean = ns.GetMean() / 1000.0,
            Min = ns.GetValueAtPercentile(0) / 1000.0,
            Max = ns.GetMaxValue() / 1000.0,
            Count = ns.TotalCount,
        };

    private sealed class CallbackSink(Action<KvEvent> feed) : IKvEventSink
    {
        public void Publish(KvEvent kvEvent) => feed(kvEvent);
    }

    private enum SimEventKind
    {
        Arrival,
        StepDone,
        TransferDone,
        Sample,
    }

    private readonly record struct SimEvent(SimEventKind Kind, SimRequest? Request, SimWorker? Worker)
    {
        public static SimEvent Arrival(SimRequest request) => new(SimEventKind.Arrival, request, null);

        public static SimEvent StepDone(SimWorker worker) => new(SimEventKind.StepDone, null, worker);

        public static SimEvent TransferDone(SimRequest request) => new(SimEventKind.TransferDone, request, null);

        public static SimEvent Sample() => new(SimEventKind.Sample, null, null);
    }
}
