using Dynamo.Contracts;
using Dynamo.Planner.Prediction;

namespace Dynamo.Planner;

/// <summary>
/// The planner's settings, bound from <c>Dynamo:Planner</c> (YAML, <c>DYNAMO__PLANNER__*</c> environment variables).
/// The same section drives the live loop (<c>dynamo serve --planner</c>, <c>dynamo planner</c>) and replay in
/// virtual time (<c>dynamo replay --planner FILE</c>); see <c>configs/planner.yaml</c> for a documented example.
/// </summary>
public sealed class PlannerOptions
{
    public const string SectionName = "Dynamo:Planner";

    /// <summary>
    /// <c>sla</c> (default): <see cref="SlaPlanner"/>, predictive plus reactive. <c>threshold</c>: <see cref="ThresholdAutoscaler"/>,
    /// the reactive HPA-like baseline. <c>schedule</c>: <see cref="ScheduledScaler"/>, the pools follow <see cref="Schedule"/>.
    /// </summary>
    public string Policy { get; set; } = "sla";

    /// <summary>
    /// The timetable of <c>Policy: schedule</c>, seconds from the planner's start: <c>T:N,...</c> in mode agg (e.g.
    /// <c>0:2,540:6,1140:2</c>), <c>T:P/D,...</c> in mode disagg (prefill/decode). Refused with any other policy.
    /// </summary>
    public string? Schedule { get; set; }

    /// <summary><c>disagg</c> (default): a prefill and a decode pool. <c>agg</c>: one pool of aggregated workers.</summary>
    public string Mode { get; set; } = "disagg";

    /// <summary>The deployment's profile.json (or the folder holding it), relative to the working directory. Required.</summary>
    public string? Profile { get; set; }

    /// <summary>Latency targets.</summary>
    public PlannerSlaOptions Sla { get; set; } = new();

    /// <summary>How often the predictive (throughput) loop resizes pools from predicted load. Default 180 s.</summary>
    public TimeSpan ThroughputInterval { get; set; } = TimeSpan.FromSeconds(180);

    /// <summary>How often the reactive (load) loop may grow or shrink a pool; also how often the loop observes. Default 5 s.</summary>
    public TimeSpan LoadInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Which predictor forecasts request rate, ISL and OSL, and its parameters.</summary>
    public PredictorOptions Predictor { get; set; } = new();

    /// <summary>Prefill pool bounds (disagg). Default 1..64.</summary>
    public PoolLimits Prefill { get; set; } = new();

    /// <summary>Decode pool bounds (disagg). Default 1..64.</summary>
    public PoolLimits Decode { get; set; } = new();

    /// <summary>Aggregated pool bounds (agg). Default 1..64.</summary>
    public PoolLimits Workers { get; set; } = new();

    /// <summary>GPUs all pools may use together (workers × the profile's GPUs per worker); null (default) for no limit.</summary>
    public int? GpuBudget { get; set; }

    /// <summary>
    /// A pool shrinks only to the largest count recommended during this window (Kubernetes HPA's scale-down
    /// stabilization), so a dip does not remove workers the next interval needs again. Default 300 s; 0 turns it off.
    /// </summary>
    public TimeSpan ScaleDownStabilization { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>
    /// How long a new worker takes to serve. The throughput loop plans for the load one start-up time past the next
    /// interval's start (trend predictors look that far ahead). Default 60 s.
    /// </summary>
    public TimeSpan WorkerStartupTime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A pool that has not reached its desired count this long after it was asked is given up on: the workers that
    /// never became ready are dropped from the target and counted. Default 600 s.
    /// </summary>
    public TimeSpan ReadyTimeout { get; set; } = TimeSpan.FromSeconds(600);

    /// <summary>Log and export decisions without carrying them out. Default false.</summary>
    public bool Advisory { get; set; }

    /// <summary>The reactive loop's thresholds.</summary>
    public LoadLoopOptions LoadLoop { get; set; } = new();

    /// <summary>Bounds of the correction factors (observed ÷ profiled latency).</summary>
    public CorrectionOptions Correction { get; set; } = new();

    /// <summary>Settings of the <c>threshold</c> policy.</summary>
    public ThresholdOptions Threshold { get; set; } = new();

    /// <summary>The pools this mode plans: prefill and decode, or the aggregated one.</summary>
    public IReadOnlyList<WorkerRole> Roles => Mode == "agg" ? [WorkerRole.Aggregated] : [WorkerRole.Prefill, WorkerRole.Decode];

    /// <summary>Bounds of one pool.</summary>
    public PoolLimits Limits(WorkerRole role) => role switch
    {
        WorkerRole.Prefill => Prefill,
        WorkerRole.Decode => Decode,
        _ => Workers,
    };

    /// <summary>A new predictor as configured.</summary>
    public ILoadPredictor CreatePredictor() => Predictor.Kind switch
    {
        "constant" => new ConstantPredictor(),
        "moving-average" => new MovingAveragePredictor(Predictor.Window),
        "holt" => new HoltPredictor(Predictor.Alpha, Predictor.Beta),
        "kalman" => new KalmanPredictor(Predictor.ProcessNoise, Predictor.MeasurementNoise, trend: true, Predictor.TrendDamping),
        "kalman-level" => new KalmanPredictor(Predictor.ProcessNoise, Predictor.MeasurementNoise, trend: false),
        _ => throw new ArgumentException($"{SectionName}:Predictor:Kind = '{Predictor.Kind}': expected constant, moving-average, holt, kalman or kalman-level."),
    };

    /// <summary>
    /// Every problem, each naming the key, its value and the rule; empty when the settings are usable.
    /// <paramref name="requireProfile"/>: whether <see cref="Profile"/> must be set (not when the caller hands the
    /// policy a profile it loaded itself).
    /// </summary>
    public IReadOnlyList<string> Problems(bool requireProfile = true)
    {
        const string S = SectionName;
        var errors = new List<string>();
        void Check(bool ok, string key, object? value, string rule)
        {
            if (!ok)
            {
                errors.Add($"{S}:{key} = '{value}': {rule}.");
            }
        }

        Check(Policy is "sla" or "threshold" or "schedule", "Policy", Policy, "expected sla, threshold or schedule");
        Check(Policy == "schedule" || string.IsNullOrWhiteSpace(Schedule), "Schedule", Schedule, "is read only by Policy schedule; remove it or set Policy: schedule");
        if (Policy == "schedule" && Mode is "disagg" or "agg")
        {
            try
            {
                ScheduleEntry.Parse(Schedule, Mode);
            }
            catch (ArgumentException e)
            {
                errors.Add(e.Message);
            }
        }

        Check(Mode is "disagg" or "agg", "Mode", Mode, "expected disagg or agg");
        Check(!requireProfile || !string.IsNullOrWhiteSpace(Profile), "Profile", Profile, "must name a profile.json (make one with 'dynamo profile --profile h100-70b --out DIR')");
        Check(Sla is not null, "Sla", null, "must be set");
        if (Sla is not null)
        {
            Check(Sla.TtftMs > 0 && double.IsFinite(Sla.TtftMs), "Sla:TtftMs", Sla.TtftMs, "must be a number of milliseconds > 0");
            Check(Sla.ItlMs > 0 && double.IsFinite(Sla.ItlMs), "Sla:ItlMs", Sla.ItlMs, "must be a number of milliseconds > 0");
            Check(Sla.PromptScv >= 0 && Sla.PromptScv <= 16 && double.IsFinite(Sla.PromptScv), "Sla:PromptScv", Sla.PromptScv, "must be a squared coefficient of variation between 0 and 16 (1: prompt work about exponential; 0: every prompt alike)");
            Check(Sla.Attainment is null || (Sla.Attainment >= 0.5 && Sla.Attainment <= 0.999), "Sla:Attainment", Sla.Attainment, "must be a fraction of requests between 0.5 and 0.999 (e.g. 0.95), or empty to size for mean latencies");
        }

        Check(ThroughputInterval > TimeSpan.Zero, "ThroughputInterval", ThroughputInterval, "must be positive");
        Check(LoadInterval > TimeSpan.Zero, "LoadInterval", LoadInterval, "must be positive");
        Check(LoadInterval <= ThroughputInterval, "LoadInterval", LoadInterval, $"must not be longer than ThroughputInterval ({ThroughputInterval})");
        Check(ScaleDownStabilization >= TimeSpan.Zero, "ScaleDownStabilization", ScaleDownStabilization, "must not be negative");
        Check(WorkerStartupTime >= TimeSpan.Zero, "WorkerStartupTime", WorkerStartupTime, "must not be negative");
        Check(ReadyTimeout > TimeSpan.Zero, "ReadyTimeout", ReadyTimeout, "must be positive");
        Check(GpuBudget is null or >= 1, "GpuBudget", GpuBudget, "must be at least 1 GPU (leave it out for no budget)");
        foreach ((string name, PoolLimits? limits) in new[] { ("Prefill", Prefill), ("Decode", Decode), ("Workers", Workers) })
        {
            Check(limits is not null, name, null, "must be set");
            if (limits is not null)
            {
                Check(limits.Min >= 0, $"{name}:Min", limits.Min, "must be 0 or more");
                Check(limits.Max >= 1 && limits.Max <= 1024, $"{name}:Max", limits.Max, "must be between 1 and 1024");
                Check(limits.Max >= limits.Min, $"{name}:Max", limits.Max, $"must be at least {name}:Min ({limits.Min})");
            }
        }

        // A decode pool of zero serves nothing; a prefill pool of zero is allowed (decode workers then prefill locally).
        Check(Mode != "disagg" || Decode is null || Decode.Min >= 1, "Decode:Min", Decode?.Min, "must be at least 1: decode workers serve every request");
        Check(Mode != "agg" || Workers is null || Workers.Min >= 1, "Workers:Min", Workers?.Min, "must be at least 1: the aggregated pool serves every request");

        Check(Predictor is not null, "Predictor", null, "must be set");
        if (Predictor is not null)
        {
            Check(Predictor.Kind is "constant" or "moving-average" or "holt" or "kalman" or "kalman-level", "Predictor:Kind", Predictor.Kind, "expected constant, moving-average, holt, kalman or kalman-level");
            Check(Predictor.Window >= 1, "Predictor:Window", Predictor.Window, "must be at least 1 interval");
            Check(Predictor.Alpha > 0 && Predictor.Alpha <= 1, "Predictor:Alpha", Predictor.Alpha, "must be in (0, 1]");
            Check(Predictor.Beta >= 0 && Predictor.Beta <= 1, "Predictor:Beta", Predictor.Beta, "must be in [0, 1]");
            Check(Predictor.TrendDamping > 0 && Predictor.TrendDamping <= 1, "Predictor:TrendDamping", Predictor.TrendDamping, "must be in (0, 1]");
            Check(Predictor.ProcessNoise > 0 && double.IsFinite(Predictor.ProcessNoise), "Predictor:ProcessNoise", Predictor.ProcessNoise, "must be > 0");
            Check(Predictor.MeasurementNoise > 0 && double.IsFinite(Predictor.MeasurementNoise), "Predictor:MeasurementNoise", Predictor.MeasurementNoise, "must be > 0");
        }

        Check(LoadLoop is not null, "LoadLoop", null, "must be set");
        if (LoadLoop is not null)
        {
            Check(LoadLoop.KvUsageHigh > 0 && LoadLoop.KvUsageHigh <= 1, "LoadLoop:KvUsageHigh", LoadLoop.KvUsageHigh, "must be in (0, 1]");
            Check(LoadLoop.IdleUtilization >= 0 && LoadLoop.IdleUtilization < 1, "LoadLoop:IdleUtilization", LoadLoop.IdleUtilization, "must be in [0, 1)");
            Check(LoadLoop.MaxPrefillUtilization > 0 && LoadLoop.MaxPrefillUtilization < 1, "LoadLoop:MaxPrefillUtilization", LoadLoop.MaxPrefillUtilization, "must be in (0, 1)");
            Check(LoadLoop.StepFactor > 1 && double.IsFinite(LoadLoop.StepFactor), "LoadLoop:StepFactor", LoadLoop.StepFactor, "must be a number > 1");
            Check(LoadLoop.KvHeadroom > 0 && LoadLoop.KvHeadroom <= 1, "LoadLoop:KvHeadroom", LoadLoop.KvHeadroom, "must be in (0, 1]");
        }

        Check(Correction is not null, "Correction", null, "must be set");
        if (Correction is not null)
        {
            Check(Correction.Min > 0 && Correction.Min <= 1, "Correction:Min", Correction.Min, "must be in (0, 1]");
            Check(Correction.Max >= 1 && double.IsFinite(Correction.Max), "Correction:Max", Correction.Max, "must be 1 or more");
        }

        Check(Threshold is not null, "Threshold", null, "must be set");
        if (Threshold is not null)
        {
            Check(Threshold.TargetQueuePerWorker > 0 && double.IsFinite(Threshold.TargetQueuePerWorker), "Threshold:TargetQueuePerWorker", Threshold.TargetQueuePerWorker, "must be > 0 requests");
            Check(Threshold.TargetKvUsage > 0 && Threshold.TargetKvUsage <= 1, "Threshold:TargetKvUsage", Threshold.TargetKvUsage, "must be in (0, 1]");
            Check(Threshold.Tolerance >= 0 && Threshold.Tolerance < 1, "Threshold:Tolerance", Threshold.Tolerance, "must be in [0, 1)");
        }

        return errors;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem (one a line).</summary>
    public void Validate(bool requireProfile = true)
    {
        IReadOnlyList<string> problems = Problems(requireProfile);
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, problems));
        }
    }
}
