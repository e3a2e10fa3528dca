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
using Dynamo.Planner;
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
/// With a <see cref="ReplayOptions.Planner"/>, the pools change size during the run: the policy is called every
/// interval with a <see cref="LoadObservation"/> of the simulated gateway and workers; an added worker joins routing
/// after the start-up delay; a removed one leaves routing at once (a starting one is cancelled first) and stops once
/// the requests it holds have finished, so no request is lost. GPUs count from when a worker is asked for until it stops.
/// </remarks>
public sealed class ClusterSimulator
{
    /// <summary>The instant virtual time 0 stands for (<see cref="PlannerInput.Now"/> is this plus the virtual seconds).</summary>
    public static readonly DateTimeOffset Epoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

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
    private readonly ClusterLruBaseline _clusterLru;
    private readonly List<SimPool> _pools = [];
    private readonly Dictionary<string, SimWorker> _byId = new(StringComparer.Ordinal);
    private readonly List<IWorkerRouter> _routers = [];
    private readonly HashSet<int> _usedGpus = [];
    private readonly List<ScalingChange> _scaling = [];
    private readonly List<TimedDecision> _decisions = [];
    private readonly List<PoolSample> _poolSamples = [];
    private SimPool _main = null!;
    private SimPool? _prefillPool;
    private long _seq;
    private double _now;
    private int _inFlight;
    private bool _moreArrivals;
    private long _remotePrefills;
    private long _routed;
    private long _eventCount;
    private Window _window = new();

    public ClusterSimulator(ReplayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.FirstError() is { } error)
        {
            throw new ArgumentException(error);
        }

        _options = options;
        _prompts = new PromptSynthesizer(options.VocabSize);
        long capacity = options.IsDisaggregated
            ? ClusterLruBaseline.Capacity(options.PrefillWorkers, options.ProfileOf(WorkerRole.Prefill).TotalKvBlocks, options.Profile.BlockSize)
                + ClusterLruBaseline.Capacity(options.DecodeWorkers, options.Profile.TotalKvBlocks, options.Profile.BlockSize)
            : ClusterLruBaseline.Capacity(options.Workers, options.Profile.TotalKvBlocks, options.Profile.BlockSize);
        _clusterLru = new ClusterLruBaseline(capacity);
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
            if (_options.Planner is { } planner)
            {
                Push(planner.IntervalS, SimEvent.Plan());
            }

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
                    case SimEventKind.Plan:
                        Plan();
                        if (_moreArrivals || _inFlight > 0)
                        {
                            Push(_now + _options.Planner!.IntervalS, SimEvent.Plan());
                        }

                        break;
                    case SimEventKind.WorkerReady:
                        WorkerReady(ev.Worker!);
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
        var all = _pools.SelectMany(p => p.Workers).ToList();
        double gpuSeconds = all.Sum(w => Math.Max(0, Math.Min(w.StopS ?? last, last) - w.StartS) * w.Gpus);
        return new ReplayRun
        {
            Results = _results,
            Workers = [.. all.Where(w => w.ReadyS is not null).Select(w => new WorkerReport(
                w.Id,
                w.Role.ToString().ToLowerInvariant(),
                w.Requests,
                w.PromptTokens,
                w.CachedTokens,
                w.OutputTokens,
                BusyFraction(w, last),
                w.KvSamples == 0 ? 0 : w.KvUsageSum / w.KvSamples,
                w.PeakKvUsage,
                w.Steps,
                w.Stepper.Preemptions)
            {
                BusyS = w.BusyS,
                StartS = w.StartS,
                ReadyS = w.ReadyS,
                StopS = w.StopS,
            })],
            KvUsage = _kvUsage,
            RouterDecisionUs = Summarize(_routerNs),
            TimingControlUs = Summarize(_controlNs),
            RouterDecisionUsByPrompt = [.. DecisionBuckets.Labels.Select((label, i) => new DecisionBucket(label, Summarize(_routerNsByPrompt[i])))],
            SimulatedS = last - first,
            WallS = Stopwatch.GetElapsedTime(wallStart).TotalSeconds,
            RemotePrefillFraction = _routed == 0 ? 0 : (double)_remotePrefills / _routed,
            Preemptions = all.Sum(w => w.Stepper.Preemptions),
            Events = _eventCount,
            GpuHours = gpuSeconds / 3600,
            EndS = last,
            Scaling = _scaling,
            Decisions = _decisions,
            PoolSamples = _poolSamples,
            ClusterLruHitRate = _clusterLru.HitRate,
        };
    }

    private void BuildCluster()
    {
        if (_options.IsDisaggregated)
        {
            _prefillPool = CreatePool(WorkerRole.Prefill, "prefill");
            _main = CreatePool(WorkerRole.Decode, "decode");
            _pools.Add(_prefillPool);
            _pools.Add(_main);
            Resize(_prefillPool, _options.PrefillWorkers, ready: true);
            Resize(_main, _options.DecodeWorkers, ready: true);
        }
        else
        {
            _main = CreatePool(WorkerRole.Aggregated, "worker");
            _pools.Add(_main);
            Resize(_main, _options.Workers, ready: true);
        }

        _scaling.Add(new ScalingChange(0, DesiredCounts(), "initial"));
    }

    /// <summary>Busy time over the time the worker served (ready until stopped or the end of the run).</summary>
    private static double BusyFraction(SimWorker w, double end)
    {
        double served = Math.Min(w.StopS ?? end, end) - w.ReadyS!.Value;
        return served > 0 ? w.BusyS / served : 0;
    }

    private SimPool CreatePool(WorkerRole role, string prefix)
    {
        (IWorkerRouter router, Action<KvEvent>? feed, Action<WorkerInstance>? announce) = CreateRouter(_options.ProfileOf(role));
        return new SimPool(role, prefix, router, feed, announce);
    }

    private Dictionary<WorkerRole, int> DesiredCounts() => _pools.ToDictionary(p => p.Role, p => p.Desired);

    /// <summary>
    /// Makes the pool's desired size <paramref name="target"/>: adds workers (serving now at the start, after the
    /// start-up delay later), or removes them: starting ones first (newest first), then the ready ones holding the
    /// fewest requests (newest first among equals), which leave routing now and stop when their requests are done.
    /// </summary>
    private void Resize(SimPool pool, int target, bool ready)
    {
        pool.Desired = target;
        int actual = pool.Count(SimWorkerState.Starting) + pool.Count(SimWorkerState.Ready);
        for (; actual < target; actual++)
        {
            SimWorker worker = AddWorker(pool);
            if (ready)
            {
                WorkerReady(worker);
            }
            else
            {
                Push(_now + _options.Planner!.StartupDelayS, SimEvent.WorkerReady(worker));
            }
        }

        for (; actual > target; actual--)
        {
            SimWorker? starting = pool.Workers.LastOrDefault(w => w.State == SimWorkerState.Starting);
            if (starting is not null)
            {
                Stop(starting);
                continue;
            }

            SimWorker victim = pool.Workers.Where(w => w.State == SimWorkerState.Ready)
                .OrderBy(w => w.Assigned).ThenByDescending(w => w.Slot).First();
            victim.State = SimWorkerState.Draining;
            pool.Routable.Remove(victim.Instance);
            if (victim.Assigned == 0)
            {
                Stop(victim);
            }
        }
    }

    private SimWorker AddWorker(SimPool pool)
    {
        var profile = _options.ProfileOf(pool.Role);
        string id = $"{pool.Prefix}-{pool.Created++}";
        var instance = new WorkerInstance
        {
            InstanceId = id,
            Model = "sim",
            Role = pool.Role,
            Address = new Uri($"http://{id}.sim/"),
            BlockSize = profile.BlockSize,
            TotalKvBlocks = profile.TotalKvBlocks,
            MaxContextLength = profile.MaxContextLength,
        };
        // Its GPUs: the lowest free run of its size, aligned to it, so a worker never straddles two NVLink domains
        // (degrees divide the node's GPUs) and workers of different degrees pack as they would on real nodes.
        int gpus = profile.GpusPerWorker;
        int slot = 0;
        while (Enumerable.Range(slot, gpus).Any(_usedGpus.Contains))
        {
            slot += gpus;
        }

        _usedGpus.UnionWith(Enumerable.Range(slot, gpus));
        var stepper = new MockerStepper(profile.ToMockerOptions(id, "sim"), pool.Feed is null ? null : new CallbackSink(pool.Feed));
        var worker = new SimWorker(instance, stepper, slot, gpus, slot / profile.GpusPerNode, _now);
        pool.Workers.Add(worker);
        _byId.Add(id, worker);
        return worker;
    }

    private void WorkerReady(SimWorker worker)
    {
        if (worker.State != SimWorkerState.Starting)
        {
            return; // cancelled before it was ready
        }

        SimPool pool = PoolOf(worker);
        worker.State = SimWorkerState.Ready;
        worker.ReadyS = _now;
        pool.Announce?.Invoke(worker.Instance);
        pool.Routable.Add(worker.Instance);
    }

    private void Stop(SimWorker worker)
    {
        bool served = worker.State != SimWorkerState.Starting;
        worker.State = SimWorkerState.Stopped;
        worker.StopS = _now;
        _usedGpus.ExceptWith(Enumerable.Range(worker.Slot, worker.Gpus));
        if (served)
        {
            // As discovery does when a worker's registration goes: the router forgets its load and its blocks.
            PoolOf(worker).Router.RemoveWorker(worker.Id);
        }
    }

    private SimPool PoolOf(SimWorker worker) => worker.Role == WorkerRole.Prefill ? _prefillPool! : _main;

    private void Release(SimWorker worker)
    {
        worker.Assigned--;
        if (worker.State == SimWorkerState.Draining && worker.Assigned == 0)
        {
            Stop(worker);
        }
    }

    private void Plan()
    {
        ReplayPlanner planner = _options.Planner!;
        var pools = _pools.Select(p => new PoolState(p.Role, p.Desired, p.Count(SimWorkerState.Starting) + p.Count(SimWorkerState.Ready), p.Count(SimWorkerState.Ready))).ToList();
        LoadObservation observation = _window.Close(Epoch + TimeSpan.FromSeconds(_now), planner.IntervalS, Reports());
        _window = new Window();
        PlannerDecision decision = planner.Policy.Decide(new PlannerInput(Epoch + TimeSpan.FromSeconds(_now), observation, pools));
        bool carried = decision.Reason != DecisionReason.Advisory && decision.ChangesAnything(pools);
        _decisions.Add(new TimedDecision(_now, observation.RequestRate, decision, carried));
        if (!carried)
        {
            return;
        }

        foreach (SimPool pool in _pools)
        {
            if (!decision.Targets.TryGetValue(pool.Role, out int target) || target == pool.Desired)
            {
                continue;
            }

            int floor = pool == _main ? 1 : 0;
            if (target < floor)
            {
                throw new InvalidOperationException($"the scaling policy '{planner.Name}' asked for {target} {pool.Role.ToString().ToLowerInvariant()} workers at t = {_now:0.###} s; the simulated cluster needs at least {floor} (requests are routed to that pool).");
            }

            Resize(pool, target, ready: false);
        }

        _scaling.Add(new ScalingChange(_now, DesiredCounts(), decision.Reason.ToString().ToLowerInvariant()));
    }

    private List<WorkerLoadReport> Reports() =>
        [.. _pools.SelectMany(p => p.Workers)
            .Where(w => w.State == SimWorkerState.Ready)
            .Select(w => new WorkerLoadReport(w.Id, "sim", w.Role, Epoch + TimeSpan.FromSeconds(_now), w.Stepper.GetLoad()))];

    private (IWorkerRouter Router, Action<KvEvent>? Feed, Action<WorkerInstance>? Announce) CreateRouter(Dynamo.Engine.Mocker.Profiles.PerformanceProfile profile)
    {
        RouterMode mode = RouterMode.LeastLoaded;
        if (!IsOracle)
        {
            RouterOptions.TryParseMode(_options.Router, out mode);
        }

        (IWorkerRouter router, Action<KvEvent>? feed, Action<WorkerInstance>? announce) = SimRouterSetup.Create(mode, _options, _clock, profile);
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
        _window.Arrived(r.InputLength);
        _clusterLru.Add(r.HashIds, r.InputLength); // every request of the sequence, as p4_cache_bounds.py counts them
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
            SimWorker worker = Route(_main, request, prompt, maxTokens, out RoutingDecision decision);
            request.Decision = decision;
            request.Worker = worker;
            worker.Assigned++;
            worker.Stepper.Submit(Engine(request, prompt, maxTokens), tag: request, oracleCachedTokens: request.OracleCachedTokens);
            Kick(worker);
            return;
        }

        SimWorker decode = Route(_main, request, prompt, maxTokens, out RoutingDecision decodeDecision);
        request.Decision = decodeDecision;
        request.Worker = decode;
        decode.Assigned++;
        if (_prefillPool!.Routable.Count > 0 && maxTokens > 1 && ShouldPrefillRemotely(decode, prompt, request.OracleCachedTokens))
        {
            request.RemotePrefill = true;
            _remotePrefills++;
            SimWorker prefill = Route(_prefillPool, request, prompt, 1, out RoutingDecision prefillDecision);
            request.PrefillDecision = prefillDecision;
            request.PrefillWorker = prefill;
            prefill.Assigned++;
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

    private SimWorker Route(SimPool pool, SimRequest request, int[] prompt, int maxTokens, out RoutingDecision decision)
    {
        long started = Stopwatch.GetTimestamp();
        decision = pool.Router.Select(new RoutingRequest(request.Id, "sim", prompt, maxTokens), pool.Routable);
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
            _prefillPool!.Router.MarkPrefilled(request.PrefillDecision!);
            _prefillPool.Router.Complete(request.PrefillDecision!);
            bool sameNode = request.PrefillWorker!.Node == request.Worker!.Node;
            // Pools of different degrees move KV at the slower side's links (a TP2 prefill worker has half a TP4 decode worker's).
            double transferMs = Math.Max(_options.ProfileOf(WorkerRole.Prefill).TransferMs(input, sameNode), _options.Profile.TransferMs(input, sameNode));
            Push(_now + (transferMs / 1000.0), SimEvent.TransferDone(request));
            Release(worker);
            return;
        }

        worker.OutputTokens++;
        request.OutputTokens++;
        if (request.FirstTokenS is not null)
        {
            request.TokenGapsMs.Add((float)((_now - request.LastTokenS) * 1000));
        }

        request.LastTokenS = _now;
        if (request.FirstTokenS is null)
        {
            request.FirstTokenS = _now;
            request.CachedTokens = output.CachedTokens;
            worker.Requests++;
            worker.PromptTokens += input;
            worker.CachedTokens += output.CachedTokens;
            _main.Router.MarkPrefilled(request.Decision!);
        }

        if (output.Finish is not null)
        {
            _main.Router.Complete(request.Decision!);
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
        _main.Router.MarkPrefilled(request.Decision!);
        int maxTokens = request.Request.OutputLength;
        if (maxTokens <= 1)
        {
            _main.Router.Complete(request.Decision!);
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

        if (error is null)
        {
            Release(request.Worker!);
        }

        request.Prompt = null;
        double start = request.ArrivalS;
        double? ttft = request.FirstTokenS is { } f ? (f - start) * 1000 : null;
        int n = request.OutputTokens;
        var result = new RequestResult
        {
            Index = request.Request.Index,
            StartS = start,
            InputTokens = request.Request.InputLength,
            OutputTokens = n,
            CachedTokens = error is null ? request.CachedTokens : null,
            TtftMs = ttft,
            ItlMs = n > 1 && request.FirstTokenS is { } first ? (request.LastTokenS - first) * 1000 / (n - 1) : null,
            E2eMs = error is null ? (request.LastTokenS - start) * 1000 : 0,
            TokenGapsMs = error is null && request.TokenGapsMs.Count > 0 ? [.. request.TokenGapsMs] : null,
            Error = error,
            ErrorMessage = error is null ? null : $"prompt of {request.Request.InputLength} tokens plus max_tokens {request.Request.OutputLength} exceeds the profile's context of {_options.Profile.MaxContextLength}",
            Worker = request.RemotePrefill ? $"{request.PrefillWorker!.Id}>{request.Worker!.Id}" : request.Worker?.Id,
            Measured = request.Measured,
        };
        _results.Add(result);
        _window.Finished(result);
    }

    private void Sample()
    {
        double sum = 0, max = 0;
        int count = 0;
        foreach (SimPool pool in _pools)
        {
            int ready = 0, starting = 0, draining = 0;
            foreach (SimWorker w in pool.Workers)
            {
                switch (w.State)
                {
                    case SimWorkerState.Starting:
                        starting++;
                        continue;
                    case SimWorkerState.Stopped:
                        continue;
                    case SimWorkerState.Ready:
                        ready++;
                        break;
                    default:
                        draining++;
                        break;
                }

                BlockPoolStats stats = w.Stepper.GetKvStats();
                double usage = stats.TotalBlocks == 0 ? 0 : (double)stats.UsedBlocks / stats.TotalBlocks;
                sum += usage;
                count++;
                max = Math.Max(max, usage);
                w.PeakKvUsage = Math.Max(w.PeakKvUsage, usage);
                w.KvUsageSum += usage;
                w.KvSamples++;
            }

            _poolSamples.Add(new PoolSample(_now, pool.Role, ready, starting, draining));
        }

        _kvUsage.Add(new KvUsageSample(_now, count == 0 ? 0 : sum / count, max, _inFlight));
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
        Plan,
        WorkerReady,
    }

    private readonly record struct SimEvent(SimEventKind Kind, SimRequest? Request, SimWorker? Worker)
    {
        public static SimEvent Arrival(SimRequest request) => new(SimEventKind.Arrival, request, null);

        public static SimEvent StepDone(SimWorker worker) => new(SimEventKind.StepDone, null, worker);

        public static SimEvent TransferDone(SimRequest request) => new(SimEventKind.TransferDone, request, null);

        public static SimEvent Sample() => new(SimEventKind.Sample, null, null);

        public static SimEvent Plan() => new(SimEventKind.Plan, null, null);

        public static SimEvent WorkerReady(SimWorker worker) => new(SimEventKind.WorkerReady, null, worker);
    }

    /// <summary>What the simulated gateway saw over one planner interval, as <see cref="LoadObservation"/> reports it.</summary>
    private sealed class Window
    {
        private long _arrived;
        private double _inputTokens;
        private long _finished;
        private double _outputTokens;
        private long _ttftCount;
        private double _ttftSum;
        private long _itlCount;
        private double _itlSum;
        private long _promptTokens;
        private long _cachedTokens;

        public void Arrived(int inputTokens)
        {
            _arrived++;
            _inputTokens += inputTokens;
        }

        public void Finished(RequestResult r)
        {
            if (!r.Succeeded)
            {
                return;
            }

            _finished++;
            _outputTokens += r.OutputTokens;
            _promptTokens += r.InputTokens;
            _cachedTokens += r.CachedTokens ?? 0;
            if (r.TtftMs is { } ttft)
            {
                _ttftCount++;
                _ttftSum += ttft;
            }

            if (r.ItlMs is { } itl)
            {
                _itlCount++;
                _itlSum += itl;
            }
        }

        public LoadObservation Close(DateTimeOffset at, double intervalS, IReadOnlyList<WorkerLoadReport> workers) => new(
            at,
            TimeSpan.FromSeconds(intervalS),
            _arrived,
            _arrived == 0 ? 0 : _inputTokens / _arrived,
            _finished == 0 ? 0 : _outputTokens / _finished,
            _ttftCount == 0 ? null : _ttftSum / _ttftCount,
            _itlCount == 0 ? null : _itlSum / _itlCount,
            _promptTokens == 0 ? 0 : (double)_cachedTokens / _promptTokens,
            workers);
    }
}
