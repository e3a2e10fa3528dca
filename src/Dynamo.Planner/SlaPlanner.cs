using System.Globalization;
using Dynamo.Contracts;
using Dynamo.Contracts.Engine;
using Dynamo.Planner.Prediction;
using Dynamo.Planner.Profiles;

namespace Dynamo.Planner;

/// <summary>
/// The SLA planner: sizes the prefill and decode pools (or the aggregated pool) so that predicted load meets the
/// TTFT and ITL targets, on the deployment's profile. Call <see cref="Decide"/> every
/// <see cref="PlannerOptions.LoadInterval"/> (or more often: the policy keeps its own schedule from
/// <see cref="PlannerInput.Now"/>) with the observation of the time since the previous call.
/// <list type="number">
/// <item><b>Throughput loop</b>, every <see cref="PlannerOptions.ThroughputInterval"/>: the interval's request count,
/// ISL and OSL go to the predictors; the load one start-up time past the next interval is predicted; prefill
/// workers = rate × uncached ISL ÷ a worker's prompt tokens/s at the utilization whose queueing keeps TTFT within
/// target (M/D/1, <see cref="Queueing"/>: the TTFT percentile of <see cref="PlannerSlaOptions.Attainment"/>, or the
/// mean t₀·(1 + ρ / 2(1 − ρ)) when it is empty); decode workers = concurrent streams (Little's law: rate × OSL ×
/// ITL) ÷ the most sequences a worker decodes within the ITL target and its KV cache (at the attainment percentile
/// of its fluctuating concurrency); aggregated workers = the count whose time holds both jobs (the prefill share of
/// a worker's time plus its decode step ÷ the ITL target at most one, see <see cref="Plan"/>). Latencies from the
/// profile are multiplied by correction factors, observed ÷ expected latency, bounded, learnt from the stretch of each interval in which the pools kept their size and nothing queued.</item>
/// <item><b>Load loop</b>, between: when a pool's queue, KV usage or expected latency says the SLA is about to be
/// missed, it grows by one worker, or at once to what the last load interval's arrivals (less one Poisson deviation,
/// plus the requests waiting, cleared within a start-up time) need if that is more; with no such signal, to what the
/// last three load intervals' arrivals need at the SLA when that is more than the pool has; −1 when one worker fewer
/// would still run below <see cref="LoadLoopOptions.IdleUtilization"/>.</item>
/// <item><b>Constraints</b>: min/max per pool, the GPU budget (<see cref="PoolConstraints"/>), the scale-down
/// stabilization window, nothing new while a pool is not settled (giving up on workers not ready after the ready
/// timeout), advisory mode.</item>
/// </list>
/// A target no configuration can meet gives a warning in the decision's detail and the best effort, never an error.
/// </summary>
public sealed class SlaPlanner : IScalingPolicy
{
    private readonly PlannerOptions _options;
    private readonly DeploymentProfile _profile;
    private readonly PoolConstraints _constraints;
    private readonly ScalingGuards _guards;
    private readonly ILoadPredictor _requests;
    private readonly ILoadPredictor _inputTokens;
    private readonly ILoadPredictor _outputTokens;
    private readonly Dictionary<WorkerRole, int> _wish = [];
    private Window _window;
    private Window _steady;
    private (int Prefill, int Decode) _steadyShape = (-1, -1);
    private double _steadyAge;
    private DateTimeOffset? _lastThroughput;
    private DateTimeOffset? _lastLoad;
    private bool _warm;
    private DecisionReason _wishReason = DecisionReason.Hold;
    private readonly Queue<LoadObservation> _recent = new();
    private double _kvHitRate;

    /// <exception cref="ArgumentException">Invalid options, or a GPU budget the pools' minimums exceed.</exception>
    public SlaPlanner(PlannerOptions options, DeploymentProfile profile)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(profile);
        options.Validate(requireProfile: false);
        _options = options;
        _profile = profile;
        _constraints = new PoolConstraints(options, profile);
        _guards = new ScalingGuards(options);
        _requests = options.CreatePredictor();
        _inputTokens = options.CreatePredictor();
        _outputTokens = options.CreatePredictor();
    }

    /// <summary>Observed ÷ profiled TTFT, bounded; 1 until measured.</summary>
    public double PrefillCorrection { get; private set; } = 1;

    /// <summary>Observed ÷ profiled ITL, bounded; 1 until measured.</summary>
    public double DecodeCorrection { get; private set; } = 1;

    /// <summary>Workers given up on after the ready timeout, in all.</summary>
    public int WorkersGivenUp => _guards.WorkersGivenUp;

    /// <summary>The last throughput loop's plan; null before the first.</summary>
    public PoolPlan? LastPlan { get; private set; }

    /// <summary>
    /// Feeds the predictors a known series of throughput intervals (a trace cut with
    /// <see cref="IntervalLoad.FromArrivals"/> at <see cref="PlannerOptions.ThroughputInterval"/>). The first
    /// decision then plans at once instead of after one interval of observation.
    /// </summary>
    public void WarmStart(IEnumerable<IntervalLoad> series)
    {
        ArgumentNullException.ThrowIfNull(series);
        foreach (IntervalLoad load in series)
        {
            Learn(load);
            _warm = true;
        }
    }

    public PlannerDecision Decide(PlannerInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        DateTimeOffset now = input.Now;
        LoadObservation observation = input.Observation;
        var current = input.Pools.ToDictionary(p => p.Role, p => p.Desired);
        (double rate, double isl, double osl) = Predicted();

        if (_guards.MissingPools(current, "plans", rate, isl, osl) is { } missing)
        {
            return missing;
        }

        if (observation is null || observation.Interval <= TimeSpan.Zero)
        {
            return new PlannerDecision(current, DecisionReason.NoData, "no observation this interval (metrics source unreachable): holding the current size", rate, isl, osl);
        }

        _window.Add(observation);
        AddSteady(observation);
        _recent.Enqueue(observation);
        if (_recent.Count > 3)
        {
            _recent.Dequeue();
        }

        // The prefix-cache hit rate over the prompt tokens of the last few load intervals, not the newest one's: a few
        // prompts swing it widely (on the Mooncake trace one interval read 0.84 while the workers' hit rate over the
        // run is 0.26-0.27); the throughput loop uses its whole window's.
        _kvHitRate = Window.Over(_recent).MeanKvHitRate ?? _kvHitRate;
        _lastThroughput ??= _warm ? now - _options.ThroughputInterval : now;
        _lastLoad ??= now;

        if (_guards.CheckPending(input, rate, isl, osl) is { } pending)
        {
            if (pending.Reason == DecisionReason.ReadyTimeout)
            {
                foreach ((WorkerRole role, int n) in pending.Targets)
                {
                    _wish[role] = n;
                }
            }

            return Advise(pending, current);
        }

        foreach ((WorkerRole role, int n) in current)
        {
            _wish.TryAdd(role, n);
        }

        DecisionReason reason = DecisionReason.Hold;
        string detail;
        string? clamped = null;
        if (now - _lastThroughput.Value >= _options.ThroughputInterval)
        {
            (detail, clamped) = ThroughputLoop();
            (rate, isl, osl) = (LastPlan!.RequestRate, LastPlan.InputTokens, LastPlan.OutputTokens);
            reason = DecisionReason.Throughput;
            _wishReason = reason;
            _lastThroughput = now;
            _lastLoad = now;
        }
        else if (_options.LoadLoop.Enabled && now - _lastLoad.Value >= _options.LoadInterval && Step() is { } step)
        {
            (detail, clamped) = step;
            (rate, isl, osl) = (LastPlan!.RequestRate, LastPlan.InputTokens, LastPlan.OutputTokens);
            reason = DecisionReason.Throughput;
            _wishReason = reason;
            _lastLoad = now;
        }
        else if (_options.LoadLoop.Enabled && now - _lastLoad.Value >= _options.LoadInterval)
        {
            (detail, clamped, bool moved) = LoadLoop(observation, current);
            reason = moved ? DecisionReason.Load : DecisionReason.Hold;
            _wishReason = moved ? reason : _wishReason;
            _lastLoad = now;
        }
        else
        {
            detail = "between loops";
        }

        var targets = new Dictionary<WorkerRole, int>();
        var stabilized = new List<string>();
        foreach (WorkerRole role in _options.Roles)
        {
            int target = _guards.Stabilize(role, now, _wish[role], current[role]);
            if (target > _wish[role])
            {
                stabilized.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{PoolConstraints.Name(role)} kept at {target} (wants {_wish[role]}; scale-down stabilization {_options.ScaleDownStabilization.TotalSeconds:0} s)"));
            }

            if (target < current[role] && Recent() is { } recent && Need(recent, role) is var need && need > target)
            {
                // Never below what the load of the last few load intervals needs, whatever was planned before.
                target = Math.Min(current[role], need);
                stabilized.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{PoolConstraints.Name(role)} kept at {target}: the last {recent.Seconds:0} s of load ({recent.Rate:0.##} req/s) need {need}"));
            }

            targets[role] = target;
        }

        foreach ((WorkerRole role, int n) in current.Where(c => !targets.ContainsKey(c.Key)))
        {
            targets[role] = n; // a pool this mode does not plan keeps its size
        }

        if (_constraints.FitBudget(targets, _wish) is { } released)
        {
            stabilized.Add(released);
        }

        bool changes = targets.Any(t => t.Value != current[t.Key]);
        if (clamped is not null)
        {
            reason = DecisionReason.Clamped;
            detail += $"; clamped: {clamped}";
        }
        else if (!changes && stabilized.Count > 0)
        {
            reason = DecisionReason.Stabilizing;
        }
        else if (!changes && reason == DecisionReason.Load)
        {
            reason = DecisionReason.Hold;
        }
        else if (changes && reason == DecisionReason.Hold)
        {
            // A wish held back by the stabilization window is carried out now that the window has passed.
            reason = _wishReason;
            detail += $"; carrying out the last {_wishReason} decision: the scale-down stabilization window has passed";
        }

        if (stabilized.Count > 0)
        {
            detail += $"; {string.Join("; ", stabilized)}";
        }

        return Advise(new PlannerDecision(targets, reason, $"{detail} → {PoolConstraints.Describe(targets)}", rate, isl, osl), current);
    }

    /// <summary>
    /// The throughput loop's arithmetic for one load, without constraints: fractional workers per pool, with the
    /// capacities and expected latencies behind them, using the current correction factors.
    /// </summary>
    public PoolPlan Plan(double requestRate, double inputTokens, double outputTokens, double kvHitRate)
    {
        var warnings = new List<string>();
        double ttftTarget = _options.Sla.TtftMs, itlTarget = _options.Sla.ItlMs;
        double? attainment = _options.Sla.Attainment;
        double z = attainment is { } q ? Queueing.NormalQuantile(q) : 0;
        LoadLoopOptions loop = _options.LoadLoop;

        // Prefill: uncached prompt tokens per second against what one worker takes while TTFT (its mean, or the
        // attainment percentile) stays in target.
        double uncached = Math.Max(1, inputTokens * (1 - Math.Clamp(kvHitRate, 0, 1)));
        double lone = _profile.Prefill.TtftMs(uncached) * PrefillCorrection;
        double utilization;
        if (lone >= ttftTarget)
        {
            utilization = loop.MaxPrefillUtilization;
            warnings.Add(string.Create(CultureInfo.InvariantCulture,
                $"TTFT target {ttftTarget:0.#} ms cannot be met: a lone {uncached:0}-token prompt takes {lone:0.#} ms on an idle prefill worker (profile × correction {PrefillCorrection:0.00}); planning at utilization {utilization:0.00} as a best effort"));
        }
        else
        {
            utilization = Math.Min(loop.MaxPrefillUtilization, Queueing.MaxUtilization(ttftTarget / lone, attainment));
        }

        double saturated = _profile.Prefill.TokensPerSecondPerWorker(uncached) / PrefillCorrection;
        double prefillWorkers = requestRate * uncached / (saturated * utilization);
        double scv = Queueing.ServiceScv;
        double promptScv = _options.Sla.PromptScv;
        if (attainment is not null && lone < ttftTarget && promptScv > 0)
        {
            // The tail of a pool of c workers: prompt work varies (Cs² = Sla:PromptScv on one worker) and the router
            // spreads it over c, so each worker is taken as M/G/1 at Cs² / c. The smallest c whose tail holds the
            // load; its fractional count is kept above c − 1, since c − 1 workers would each see more variation.
            for (int servers = 1; servers <= 1024; servers++)
            {
                scv = promptScv / servers;
                utilization = Math.Min(loop.MaxPrefillUtilization, Queueing.MaxUtilization(ttftTarget / lone, attainment, scv));
                double n = requestRate * uncached / (saturated * utilization);
                if (n <= servers)
                {
                    prefillWorkers = Math.Max(n, servers - 1 + 1e-6);
                    break;
                }
            }
        }

        double expectedTtft = lone * Queueing.TtftFactor(utilization, attainment, scv);
        double capacity = saturated * utilization;

        // Decode: concurrent streams (Little's law) against what one worker decodes within ITL and its KV cache.
        double context = inputTokens + (outputTokens / 2);
        double maxByKv = _profile.Kv.TokensPerWorker * loop.KvHeadroom / Math.Max(1, context);
        double perWorker;
        bool itlMeetable = true;
        if (_profile.Decode.MaxConcurrencyAt(itlTarget, context, DecodeCorrection, maxByKv) is { } c)
        {
            // A worker's concurrency fluctuates about its mean like a Poisson count (sd √c): the mean is held where
            // its attainment percentile, c + z√c, reaches the most the worker takes within target.
            perWorker = z > 0 ? Math.Max(Math.Min(1, c), Math.Pow((-z + Math.Sqrt((z * z) + (4 * c))) / 2, 2)) : c;
        }
        else
        {
            itlMeetable = false;
            perWorker = Math.Max(1, Math.Min(_profile.Decode.Concurrency[0], maxByKv));
            double alone = _profile.Decode.ItlMs(perWorker, context) * DecodeCorrection;
            warnings.Add(maxByKv < _profile.Decode.Concurrency[0]
                ? string.Create(CultureInfo.InvariantCulture, $"a {context:0}-token context leaves room for {maxByKv:0.##} sequences in a decode worker's KV cache ({_profile.Kv.TokensPerWorker} tokens × headroom {loop.KvHeadroom:0.##}); planning {perWorker:0.##} per worker as a best effort")
                : string.Create(CultureInfo.InvariantCulture, $"ITL target {itlTarget:0.#} ms cannot be met: {perWorker:0.##} sequence(s) of {context:0} tokens decode at {alone:0.#} ms (profile × correction {DecodeCorrection:0.00}); planning {perWorker:0.##} per worker as a best effort"));
        }

        double expectedItl = _profile.Decode.ItlMs(perWorker, context) * DecodeCorrection;
        double streams = requestRate * outputTokens * expectedItl / 1000;
        double decodeWorkers = streams / perWorker;
        double aggregated = itlMeetable
            ? Math.Max(prefillWorkers, AggregatedByTime(requestRate * uncached / saturated, requestRate * outputTokens * itlTarget / 1000, context, maxByKv, z))
            : prefillWorkers + decodeWorkers;
        return new PoolPlan(requestRate, inputTokens, outputTokens, prefillWorkers, decodeWorkers, capacity, utilization, expectedTtft, streams, perWorker, expectedItl, aggregated, warnings);
    }

    /// <summary>
    /// Aggregated workers (fractional) whose time holds both jobs: an aggregated worker's steps carry prefill chunks
    /// and decodes together, so a decode gap is the decode step time d(c) stretched by 1 / (1 − ρ), ρ the share of
    /// the worker's time spent prefilling. ITL within target is ρ + d(c) ÷ ITL target ≤ 1: the fraction of the
    /// worker each job needs, summed. On n workers: ρ = <paramref name="prefillWork"/> (worker-seconds of prefill per
    /// second) ÷ n, c = <paramref name="streamsAtTarget"/> ÷ n (Little's law with gaps at the target). A request's
    /// mean ITL sees the prefill share of its own lifetime, in which about c prompts arrive at its worker (Little's
    /// law again): that share fluctuates like a compound Poisson sum (prompt work of squared coefficient of variation
    /// Cs² = <see cref="Queueing.ServiceScv"/>, 0: the count alone), so it is taken at ρ(1 + z √((1 + Cs²) / c)), z the
    /// attainment percentile's normal quantile (0 sizes for the mean). Also c within what the KV cache holds. Returns the
    /// smallest n that meets all of it (bisection; every term falls as n grows).
    /// </summary>
    private double AggregatedByTime(double prefillWork, double streamsAtTarget, double context, double maxByKv, double z)
    {
        if (streamsAtTarget <= 0 && prefillWork <= 0)
        {
            return 0;
        }

        double floor = _profile.Decode.Concurrency[0];
        bool Fits(double n)
        {
            double c = streamsAtTarget / n;
            if (c > maxByKv)
            {
                return false;
            }

            double rho = prefillWork / n;
            double share = rho * (1 + (z * Math.Sqrt((1 + Queueing.ServiceScv) / Math.Max(1, c))));
            return share + (_profile.Decode.ItlMs(Math.Max(floor, c), context) * DecodeCorrection / _options.Sla.ItlMs) <= 1;
        }

        double high = Math.Max(1e-6, prefillWork + (streamsAtTarget / Math.Max(1, maxByKv)));
        while (!Fits(high) && high < 1e6)
        {
            high *= 2;
        }

        double low = 0;
        for (int i = 0; i < 100; i++)
        {
            double mid = (low + high) / 2;
            (low, high) = Fits(mid) ? (low, mid) : (mid, high);
        }

        return high;
    }

    /// <summary>
    /// The TTFT and ITL the profile (with the current correction factors) expects for a steady load of
    /// <paramref name="requestRate"/> req/s on <paramref name="prefillWorkers"/> prefill and
    /// <paramref name="decodeWorkers"/> decode workers (in aggregated mode, pass the pool's size for both): prefill
    /// at utilization ρ = uncached prompt tokens/s ÷ the pool's saturated throughput, TTFT = t₀(1 + ρ/2(1 − ρ));
    /// decode at the concurrency c per worker that solves Little's law, c = rate × OSL × ITL(c) ÷ workers. The
    /// planner sizes pools with the same arithmetic, so this is what it promises for a size it chose.
    /// </summary>
    public LatencyEstimate Expect(double requestRate, double inputTokens, double outputTokens, double kvHitRate, int prefillWorkers, int decodeWorkers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(prefillWorkers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(decodeWorkers, 1);
        double uncached = Math.Max(1, inputTokens * (1 - Math.Clamp(kvHitRate, 0, 1)));
        double lone = _profile.Prefill.TtftMs(uncached) * PrefillCorrection;
        double rho = requestRate * uncached / (prefillWorkers * _profile.Prefill.TokensPerSecondPerWorker(uncached) / PrefillCorrection);
        double ttft = rho >= 1 ? double.PositiveInfinity : lone * (1 + (rho / (2 * (1 - rho))));

        double context = inputTokens + (outputTokens / 2);
        double Itl(double c) => _profile.Decode.ItlMs(Math.Max(1, c), context) * DecodeCorrection;
        double Excess(double c) => c - (requestRate * outputTokens * Itl(c) / 1000 / decodeWorkers);
        double low = 0, high = _profile.Decode.Concurrency[^1];
        while (Excess(high) < 0 && high < 1e7)
        {
            high *= 2; // past the grid: ITL extrapolated along its last cell
        }

        for (int i = 0; i < 100; i++)
        {
            double mid = (low + high) / 2;
            (low, high) = Excess(mid) < 0 ? (mid, high) : (low, mid);
        }

        return new LatencyEstimate(ttft, Itl(high), rho, high);
    }

    /// <summary>
    /// Requests waiting at the prefill-side workers in the newest observation, as a rate that clears them within
    /// one worker start-up time (at least one load interval): new workers come no sooner.
    /// </summary>
    private double BacklogRate()
    {
        if (_recent.Count == 0)
        {
            return 0;
        }

        double waiting = _recent.Last().Workers.Where(w => w.Role is WorkerRole.Prefill or WorkerRole.Aggregated).Sum(w => (double)w.Load.WaitingRequests);
        TimeSpan horizon = _options.WorkerStartupTime > _options.LoadInterval ? _options.WorkerStartupTime : _options.LoadInterval;
        return waiting / horizon.TotalSeconds;
    }

    /// <summary>The load of the last (up to three) observations: rate, mean ISL and OSL, and their span.</summary>
    private (double Rate, double Isl, double Osl, double Seconds)? Recent()
    {
        double seconds = _recent.Sum(o => o.Interval.TotalSeconds), requests = _recent.Sum(o => (double)o.Requests);
        if (_recent.Count < 3 || seconds <= 0)
        {
            return null;
        }

        double isl = requests > 0 ? _recent.Sum(o => o.MeanInputTokens * o.Requests) / requests : Math.Max(1, _inputTokens.Predict());
        // OSL of the requests that finished in the last seconds leans short (long ones are still running): the
        // predictor's longer view is preferred once it has one.
        var finished = _recent.Where(o => o.MeanOutputTokens > 0).ToArray();
        double osl = _outputTokens.Count > 0 ? Math.Max(1, _outputTokens.Predict()) : finished.Length > 0 ? finished.Average(o => o.MeanOutputTokens) : 1;
        return (requests / seconds, isl, osl, seconds);
    }

    private int Need((double Rate, double Isl, double Osl, double Seconds) recent, WorkerRole role)
    {
        return Up(Workers(Plan(recent.Rate, recent.Isl, recent.Osl, _kvHitRate), role));
    }

    /// <summary>
    /// A load step: the recent rate is well past what the pools were last planned for. Plans at once on the recent
    /// load, growing pools only; null when there is no step or nothing would grow.
    /// </summary>
    private (string Detail, string? Clamped)? Step()
    {
        // Every one of the last three intervals past the mark, so a single burst does not count as a step.
        double mark = _options.LoadLoop.StepFactor * (LastPlan?.RequestRate ?? 0);
        if (Recent() is not { } recent || !_recent.All(o => o.RequestRate > mark))
        {
            return null;
        }

        double backlog = BacklogRate();
        recent = recent with { Rate = recent.Rate + backlog };
        PoolPlan plan = Plan(recent.Rate, recent.Isl, recent.Osl, _kvHitRate);
        var wanted = new Dictionary<WorkerRole, int>(_wish);
        bool grows = false;
        foreach (WorkerRole role in _options.Roles)
        {
            int need = Need(recent, role);
            if (need > wanted[role])
            {
                wanted[role] = need;
                grows = true;
            }
        }

        if (!grows)
        {
            return null;
        }

        (Dictionary<WorkerRole, int> counts, string? clamped) = _constraints.Apply(wanted);
        foreach ((WorkerRole role, int n) in counts)
        {
            _wish[role] = n;
        }

        string was = LastPlan is { } last ? string.Create(CultureInfo.InvariantCulture, $"{last.RequestRate:0.##} req/s") : "nothing yet";
        LastPlan = plan;
        string detail = string.Create(CultureInfo.InvariantCulture,
            $"load step: the last {recent.Seconds:0} s brought {recent.Rate - backlog:0.##} req/s (ISL {recent.Isl:0}, OSL {recent.Osl:0}), over {_options.LoadLoop.StepFactor:0.##} × the {was} the pools were planned for{(backlog > 0 ? $", plus {backlog:0.##} req/s to clear the requests waiting within a start-up time" : "")}; "
            + $"prefill {plan.PrefillWorkers:0.##}, decode {plan.DecodeWorkers:0.##} workers needed now");
        if (plan.Warnings.Count > 0)
        {
            detail += $"; WARNING: {string.Join("; ", plan.Warnings)}";
        }

        return (detail, clamped);
    }

    private (double Rate, double Isl, double Osl) Predicted()
    {
        double horizon = 1 + (_options.WorkerStartupTime / _options.ThroughputInterval);
        return (_requests.PredictAhead(horizon) / _options.ThroughputInterval.TotalSeconds, _inputTokens.PredictAhead(horizon), _outputTokens.PredictAhead(horizon));
    }

    private void Learn(IntervalLoad load)
    {
        _requests.Observe(load.Requests);
        if (load.Requests > 0)
        {
            // Lengths of an empty interval are unknown, not zero: the length predictors skip it.
            _inputTokens.Observe(load.MeanInputTokens);
            _outputTokens.Observe(load.MeanOutputTokens);
        }
    }

    private (string Detail, string? Clamped) ThroughputLoop()
    {
        Window window = _window;
        _window = default;
        Window steady = _steady;
        _steady = default;
        string observed = "no traffic observed";
        if (window.Seconds > 0)
        {
            // Scaled to a whole interval: a first window may be shorter (the loop started mid-interval).
            double perInterval = window.Requests * _options.ThroughputInterval.TotalSeconds / window.Seconds;
            Learn(new IntervalLoad(perInterval, window.MeanInputTokens, window.MeanOutputTokens));
            _kvHitRate = window.MeanKvHitRate ?? _kvHitRate;
            observed = string.Create(CultureInfo.InvariantCulture,
                $"observed {window.Requests / window.Seconds:0.###} req/s, ISL {window.MeanInputTokens:0}, OSL {window.MeanOutputTokens:0}");
            UpdateCorrections(steady);
        }

        (double rate, double isl, double osl) = Predicted();
        double backlog = BacklogRate();
        rate += backlog;
        if (_outputTokens.Count == 0)
        {
            // Nothing seen yet: size for nothing; the pools' minimums apply.
            (isl, osl) = (1, 1);
        }

        PoolPlan plan = Plan(rate, isl, osl, _kvHitRate);
        LastPlan = plan;
        var wanted = new Dictionary<WorkerRole, int>();
        if (_options.Mode == "agg")
        {
            wanted[WorkerRole.Aggregated] = Up(plan.AggregatedWorkers);
        }
        else
        {
            wanted[WorkerRole.Prefill] = Up(plan.PrefillWorkers);
            wanted[WorkerRole.Decode] = Up(plan.DecodeWorkers);
        }

        (Dictionary<WorkerRole, int> counts, string? clamped) = _constraints.Apply(wanted);
        foreach ((WorkerRole role, int n) in counts)
        {
            _wish[role] = n;
        }

        string detail = string.Create(CultureInfo.InvariantCulture,
            $"throughput: {observed}; predicted {plan.RequestRate - backlog:0.###} req/s{(backlog > 0 ? $" + {backlog:0.###} req/s to clear the requests waiting within a start-up time" : "")}, ISL {plan.InputTokens:0}, OSL {plan.OutputTokens:0}, KV hit {_kvHitRate:0.00}; "
            + $"prefill {plan.RequestRate * Math.Max(1, plan.InputTokens * (1 - _kvHitRate)):0} tok/s ÷ {plan.PrefillCapacityPerWorker:0} per worker (utilization {plan.PrefillUtilization:0.00}, TTFT ≈ {plan.ExpectedTtftMs:0.#} ms, correction {PrefillCorrection:0.00}) = {plan.PrefillWorkers:0.##}; "
            + $"decode {plan.DecodeStreams:0.#} streams ÷ {plan.DecodeConcurrencyPerWorker:0.#} per worker (ITL ≈ {plan.ExpectedItlMs:0.#} ms, correction {DecodeCorrection:0.00}) = {plan.DecodeWorkers:0.##}");
        if (_options.Mode == "agg")
        {
            detail += string.Create(CultureInfo.InvariantCulture,
                $"; aggregated: prefill share + decode step ÷ ITL {_options.Sla.ItlMs:0.#} ms within each worker's time{(_options.Sla.Attainment is { } q ? $", the prefill share at the {q:0.###} percentile of a request's lifetime" : "")} = {plan.AggregatedWorkers:0.##} (prefill and decode fractions alone: {plan.PrefillWorkers + plan.DecodeWorkers:0.##})");
        }

        if (plan.Warnings.Count > 0)
        {
            detail += $"; WARNING: {string.Join("; ", plan.Warnings)}";
        }

        return (detail, clamped);
    }

    /// <summary>
    /// The observations the correction factors learn from: the latest stretch of the window in which the pools
    /// kept their size and nothing queued (on average under one request waiting per worker of either side). A window
    /// that spans a resize or a backlog mixes latencies of another pool size, or queueing the steady-state model does
    /// not describe, into what is taken for the profile's error: a pool too small for a load step, then grown, would
    /// read as a slow profile and be oversized for the rest of the run.
    /// </summary>
    private void AddSteady(LoadObservation o)
    {
        WorkerLoadReport[] prefill = [.. o.Workers.Where(w => w.Role is WorkerRole.Prefill or WorkerRole.Aggregated)];
        WorkerLoadReport[] decode = [.. o.Workers.Where(w => w.Role is WorkerRole.Decode or WorkerRole.Aggregated)];
        (int, int) shape = (prefill.Length, decode.Length);
        bool queued = (prefill.Length > 0 && prefill.Average(w => (double)w.Load.WaitingRequests) >= 1)
            || (decode.Length > 0 && decode.Average(w => (double)w.Load.WaitingRequests) >= 1);
        if (shape != _steadyShape || queued)
        {
            _steady = default;
            _steadyShape = shape;
            _steadyAge = 0;
        }

        // The first load intervals of a stretch still report requests that queued before it (latencies are
        // reported when requests finish): they settle first.
        _steadyAge += o.Interval.TotalSeconds;
        if (!queued && _steadyAge > SettleLoadIntervals * _options.LoadInterval.TotalSeconds)
        {
            _steady.Add(o);
        }
    }

    private const int SettleLoadIntervals = 3;

    private void UpdateCorrections(Window window)
    {
        // Too short a steady stretch says little: the factors learnt before stand.
        if (!_options.Correction.Enabled || window.Seconds < MinSteadySeconds(_options))
        {
            return;
        }

        double Bound(double f) => Math.Clamp(f, _options.Correction.Min, _options.Correction.Max);
        if (window.TtftMs is { } ttft && window.Requests > 0)
        {
            // Expected TTFT at the utilization the pool actually ran at; saturated intervals say nothing reliable.
            double uncached = Math.Max(1, window.MeanInputTokens * (1 - (window.MeanKvHitRate ?? _kvHitRate)));
            int workers = Math.Max(1, window.PrefillWorkers);
            double profiled = _profile.Prefill.TtftMs(uncached);
            double rho = window.Requests / window.Seconds * uncached / (workers * _profile.Prefill.TokensPerSecondPerWorker(uncached) / PrefillCorrection);
            // A backlog (requests waiting at the prefill workers) is a transient the steady-state queueing model
            // does not describe: its TTFTs would read as a slow profile.
            if (rho < 0.95 && window.MaxPrefillWaiting < 1)
            {
                PrefillCorrection = Bound(ttft / (profiled * (1 + (rho / (2 * (1 - rho))))));
            }
        }

        // A saturated decode pool (requests waiting for a batch slot or KV) stretches the observed gaps with
        // queueing the profile's ITL does not describe: such a window says nothing about the step time.
        bool saturated = window.MaxDecodeWaiting >= 1 || window.MaxDecodeKvUsage > _options.LoadLoop.KvUsageHigh;
        if (window.ItlMs is { } itl && window.DecodeConcurrency is { } concurrency && !saturated)
        {
            double context = window.MeanInputTokens + (window.MeanOutputTokens / 2);
            double profiled = _profile.Decode.ItlMs(Math.Max(1, concurrency), context);
            if (_options.Mode == "agg" && window.Requests > 0)
            {
                // An aggregated worker's steps also carry prefill chunks: its decode gaps stretch by 1 / (1 − ρ),
                // ρ the share of its time spent prefilling, which the decode profile alone does not include.
                double uncached = Math.Max(1, window.MeanInputTokens * (1 - (window.MeanKvHitRate ?? _kvHitRate)));
                double rho = window.Requests / window.Seconds * uncached / (Math.Max(1, window.PrefillWorkers) * _profile.Prefill.TokensPerSecondPerWorker(uncached));
                profiled /= 1 - Math.Min(rho, 0.9);
            }

            DecodeCorrection = Bound(itl / profiled);
        }
    }

    private (string Detail, string? Clamped, bool Moved) LoadLoop(LoadObservation observation, Dictionary<WorkerRole, int> current)
    {
        LoadLoopOptions loop = _options.LoadLoop;
        // Lengths over the last few load intervals (Recent): one interval's few prompts are noisy, and the OSL of the
        // requests that finished in it leans short (long ones are still running), which sizes an aggregated pool as
        // if every request were too short to absorb a prefill chunk.
        double isl, osl;
        if (Recent() is { } recent)
        {
            (isl, osl) = (recent.Isl, recent.Osl);
        }
        else
        {
            isl = observation.Requests > 0 ? observation.MeanInputTokens : Math.Max(1, _inputTokens.Predict());
            osl = _outputTokens.Count > 0 ? Math.Max(1, _outputTokens.Predict()) : observation.MeanOutputTokens > 0 ? observation.MeanOutputTokens : 1;
        }

        PoolPlan now = Plan(observation.RequestRate, isl, osl, _kvHitRate);
        double backlog = BacklogRate();
        // The rate the last interval's arrivals show beyond Poisson noise: one standard deviation (√count) below
        // their count, so a burst in a few seconds does not size the pool for minutes.
        double arrivals = Math.Max(0, observation.Requests - Math.Sqrt(observation.Requests)) / observation.Interval.TotalSeconds;
        PoolPlan? jump = null;
        // The same over the last few intervals (Recent), which also grows a pool with no signal yet: its queueing
        // tail (the attainment percentile) is missed before its queue or mean latency shows it.
        (double Rate, double Seconds)? lately = Recent() is { } r
            ? (Math.Max(0, (r.Rate * r.Seconds) - Math.Sqrt(r.Rate * r.Seconds)) / r.Seconds, r.Seconds)
            : null;
        PoolPlan? sustained = lately is { } l ? Plan(l.Rate + backlog, isl, osl, _kvHitRate) : null;
        var wanted = new Dictionary<WorkerRole, int>(_wish);
        var notes = new List<string>();
        bool moved = false;
        string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

        void Grow(WorkerRole role, string why)
        {
            // One more, or at once what the last interval's arrivals (and the requests waiting, cleared within a
            // start-up time) need: a worker asked for now serves only a start-up time later.
            jump ??= Plan(arrivals + backlog, isl, osl, _kvHitRate);
            int n = current[role];
            int need = Up(Workers(jump, role));
            int target = Math.Max(_wish[role], Math.Max(n + 1, Math.Max(need, sustained is null ? 0 : Up(Workers(sustained, role)))));
            wanted[role] = target;
            moved = true;
            notes.Add(need > n + 1
                ? string.Create(CultureInfo.InvariantCulture, $"{PoolConstraints.Name(role)} +{target - n}: {why}; the last {observation.Interval.TotalSeconds:0} s brought {observation.Requests} requests, at least {arrivals:0.##} req/s beyond noise{(backlog > 0 ? $", + {backlog:0.##} req/s to clear the requests waiting" : "")}, which need {need}")
                : $"{PoolConstraints.Name(role)} +{target - n}: {why}");
        }

        foreach (WorkerRole role in _options.Roles)
        {
            WorkerLoadReport[] reports = [.. observation.Workers.Where(w => w.Role == role)];
            if (reports.Length == 0)
            {
                notes.Add($"{PoolConstraints.Name(role)}: no load reports");
                continue;
            }

            int n = current[role];
            double waiting = reports.Average(r => (double)r.Load.WaitingRequests);
            double running = reports.Average(r => (double)r.Load.RunningRequests);
            double kv = reports.Average(r => r.Load.KvUsage);
            double context = isl + (osl / 2);
            double uncached = Math.Max(1, isl * (1 - _kvHitRate));
            double lone = _profile.Prefill.TtftMs(uncached) * PrefillCorrection;
            double queuedTtft = lone * (1 + waiting);
            double itl = _profile.Decode.ItlMs(Math.Max(1, running), context) * DecodeCorrection;
            double prefillShare = 0;
            if (role == WorkerRole.Aggregated)
            {
                // An aggregated worker's decode gaps stretch by 1 / (1 − its prefill share) (see Plan).
                prefillShare = observation.RequestRate * uncached / (reports.Length * _profile.Prefill.TokensPerSecondPerWorker(uncached) / PrefillCorrection);
                itl /= 1 - Math.Min(prefillShare, 0.95);
            }

            double need = Workers(now, role);
            bool prefillSide = role != WorkerRole.Decode, decodeSide = role != WorkerRole.Prefill;
            if (prefillSide && queuedTtft > _options.Sla.TtftMs && waiting >= 1)
            {
                Grow(role, $"{F(waiting)} waiting per worker: a new prompt would see TTFT ≈ {queuedTtft:0} ms > {_options.Sla.TtftMs:0} ms");
            }
            else if (decodeSide && kv > loop.KvUsageHigh)
            {
                Grow(role, $"KV usage {F(kv)} > {F(loop.KvUsageHigh)}");
            }
            else if (decodeSide && itl > _options.Sla.ItlMs)
            {
                Grow(role, role == WorkerRole.Aggregated
                    ? $"{F(running)} sequences per worker with {F(prefillShare)} of its time prefilling decode at ITL ≈ {itl:0.#} ms > {_options.Sla.ItlMs:0.#} ms"
                    : $"{F(running)} sequences per worker decode at ITL ≈ {itl:0.#} ms > {_options.Sla.ItlMs:0.#} ms");
            }
            else if (sustained is not null && lately is { } span && Up(Workers(sustained, role)) > n)
            {
                int grow = Math.Max(_wish[role], Up(Workers(sustained, role)));
                wanted[role] = grow;
                moved = true;
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{PoolConstraints.Name(role)} +{grow - n}: the last {span.Seconds:0} s brought at least {span.Rate:0.##} req/s beyond noise{(backlog > 0 ? $", + {backlog:0.##} req/s to clear the requests waiting" : "")}, which need {Up(Workers(sustained, role))} at the SLA"));
            }
            else if (waiting == 0 && n > _options.Limits(role).Min && need <= (n - 1) * loop.IdleUtilization && (!decodeSide || kv * n / (n - 1) < loop.KvUsageHigh * loop.IdleUtilization))
            {
                wanted[role] = Math.Min(_wish[role], n - 1);
                moved = true;
                notes.Add($"{PoolConstraints.Name(role)} -1: idle: the last interval needed {F(need)} workers, under {F(loop.IdleUtilization)} of {n - 1}");
            }
        }

        (Dictionary<WorkerRole, int> counts, string? clamped) = _constraints.Apply(wanted);
        foreach ((WorkerRole role, int n) in counts)
        {
            _wish[role] = n;
        }

        return ($"load: {(notes.Count == 0 ? "within targets" : string.Join("; ", notes))}", clamped, moved);
    }

    private static double Workers(PoolPlan plan, WorkerRole role) => role switch
    {
        WorkerRole.Prefill => plan.PrefillWorkers,
        WorkerRole.Decode => plan.DecodeWorkers,
        _ => plan.AggregatedWorkers,
    };

    private PlannerDecision Advise(PlannerDecision decision, Dictionary<WorkerRole, int> current)
    {
        PlannerDecision advised = _guards.Advise(decision, current);
        if (advised.Reason == DecisionReason.Advisory && decision.Reason != DecisionReason.Advisory)
        {
            // Advisory: nothing is carried out, so the pools stay as they are and the next decision starts from them.
            foreach ((WorkerRole role, int n) in current)
            {
                _wish[role] = n;
            }
        }

        return advised;
    }

    /// <summary>A steady stretch shorter than this (a third of the throughput interval, at least three load intervals) leaves the correction factors as they are.</summary>
    private static double MinSteadySeconds(PlannerOptions options) =>
        Math.Max(3 * options.LoadInterval.TotalSeconds, options.ThroughputInterval.TotalSeconds / 3);

    private static int Up(double workers) => (int)Math.Ceiling(Math.Max(0, workers - 1e-9));

    /// <summary>Observations accumulated since the last throughput decision.</summary>
    private struct Window
    {
        public double Seconds;
        public double Requests;
        private double _inputSum;
        private double _outputSum;
        private double _outputWeight;
        private double _ttftSum;
        private double _ttftWeight;
        private double _itlSum;
        private double _itlWeight;
        private double _concurrencySum;
        private double _hitSum;
        private double _hitWeight;
        private int _concurrencySamples;
        public int PrefillWorkers;
        public double MaxDecodeWaiting;
        public double MaxPrefillWaiting;
        public double MaxDecodeKvUsage;

        public readonly double MeanInputTokens => Requests > 0 ? _inputSum / Requests : 0;

        public readonly double MeanOutputTokens => _outputWeight > 0 ? _outputSum / _outputWeight : 0;

        public readonly double? TtftMs => _ttftWeight > 0 ? _ttftSum / _ttftWeight : null;

        public readonly double? ItlMs => _itlWeight > 0 ? _itlSum / _itlWeight : null;

        /// <summary>Prefix-cache hit rate over the window's prompt tokens; null when no prompt arrived.</summary>
        public readonly double? MeanKvHitRate => _hitWeight > 0 ? Math.Clamp(_hitSum / _hitWeight, 0, 1) : null;

        public static Window Over(IEnumerable<LoadObservation> observations)
        {
            var window = default(Window);
            foreach (LoadObservation o in observations)
            {
                window.Add(o);
            }

            return window;
        }

        public readonly double? DecodeConcurrency => _concurrencySamples > 0 ? _concurrencySum / _concurrencySamples : null;

        public void Add(LoadObservation o)
        {
            Seconds += o.Interval.TotalSeconds;
            Requests += o.Requests;
            _inputSum += o.MeanInputTokens * o.Requests;
            _hitSum += o.KvHitRate * o.MeanInputTokens * o.Requests;
            _hitWeight += o.MeanInputTokens * o.Requests;
            double weight = Math.Max(1, o.Requests);
            if (o.MeanOutputTokens > 0)
            {
                _outputSum += o.MeanOutputTokens * weight;
                _outputWeight += weight;
            }

            if (o.TtftMs is { } ttft)
            {
                _ttftSum += ttft * weight;
                _ttftWeight += weight;
            }

            if (o.ItlMs is { } itl)
            {
                _itlSum += itl * weight;
                _itlWeight += weight;
            }

            WorkerLoadReport[] decode = [.. o.Workers.Where(w => w.Role is WorkerRole.Decode or WorkerRole.Aggregated)];
            if (decode.Length > 0)
            {
                _concurrencySum += decode.Average(w => (double)w.Load.RunningRequests);
                _concurrencySamples++;
                MaxDecodeWaiting = Math.Max(MaxDecodeWaiting, decode.Average(w => (double)w.Load.WaitingRequests));
                MaxDecodeKvUsage = Math.Max(MaxDecodeKvUsage, decode.Average(w => w.Load.KvUsage));
            }

            WorkerLoadReport[] prefill = [.. o.Workers.Where(w => w.Role is WorkerRole.Prefill or WorkerRole.Aggregated)];
            PrefillWorkers = Math.Max(PrefillWorkers, prefill.Length);
            if (prefill.Length > 0)
            {
                MaxPrefillWaiting = Math.Max(MaxPrefillWaiting, prefill.Average(w => (double)w.Load.WaitingRequests));
            }
        }
    }
}
