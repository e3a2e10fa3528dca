using Dynamo.Bench.Metrics;
using Dynamo.Engine.Mocker.Profiles;

namespace Dynamo.Bench.Replay;

/// <summary>A simulated cluster: its shape, router, profile and the disaggregation rules.</summary>
public sealed record ReplayOptions
{
    /// <summary>agg or disagg.</summary>
    public string Mode { get; init; } = "agg";

    /// <summary>Aggregated workers (agg mode).</summary>
    public int Workers { get; init; } = 1;

    public int PrefillWorkers { get; init; }

    public int DecodeWorkers { get; init; }

    /// <summary>round-robin, random, least-loaded, kv, or oracle (least-loaded placement; every prompt prefix any request has had counts as cached, on every worker).</summary>
    public string Router { get; init; } = "kv";

    /// <summary>kv router: weight of the prefill term of the cost (null: the router's default, 1.0).</summary>
    public double? PrefillLoadScale { get; init; }

    /// <summary>kv router: softmax temperature over costs (null: the router's default, 0).</summary>
    public double? Temperature { get; init; }

    /// <summary>kv router, predicted cost: the balance thresholds' absolute gap in requests (null: the router's default, 4; 0 off).</summary>
    public int? BalanceAbsoluteThreshold { get; init; }

    /// <summary>kv router, predicted cost: the balance thresholds' ratio (null: the router's default, 1.5).</summary>
    public double? BalanceRelativeThreshold { get; init; }

    /// <summary>kv router: how candidates are priced, predicted or blocks (null: the router's default, predicted).</summary>
    public string? KvCost { get; init; }

    /// <summary>kv router, predicted cost: weight of the delay to running decodes (null: the router's default, 0).</summary>
    public double? DecodeImpactWeight { get; init; }

    /// <summary>kv router, predicted cost: ms of cost per unit of recent busy fraction (null: the router's default).</summary>
    public double? BusyCostMs { get; init; }

    /// <summary>kv router, predicted cost: the prompt length at which the busy cost applies in full (null: the router's default).</summary>
    public int? BusyCostTokens { get; init; }

    /// <summary>kv router, predicted cost: the busy fraction at or below which the busy cost is 0 (null: the router's default).</summary>
    public double? BusyFloor { get; init; }

    /// <summary>kv router, predicted cost: the busy fraction's time constant, seconds (null: the router's default).</summary>
    public double? BusyWindowS { get; init; }

    /// <summary>The workers' profile: every aggregated worker's, or the decode workers' in disagg mode.</summary>
    public required PerformanceProfile Profile { get; init; }

    /// <summary>
    /// Disaggregated: the prefill workers' profile when it differs from the decode workers' (another tensor-parallel
    /// degree or step token budget); null: the same as <see cref="Profile"/>. Refused in agg mode.
    /// </summary>
    public PerformanceProfile? PrefillProfile { get; init; }

    /// <summary>The profile of a worker of <paramref name="role"/>.</summary>
    public PerformanceProfile ProfileOf(Dynamo.Contracts.WorkerRole role) =>
        role == Dynamo.Contracts.WorkerRole.Prefill && PrefillProfile is { } prefill ? prefill : Profile;

    /// <summary>
    /// Disaggregated: prefill on the decode worker itself when the prompt's part it does not hold is shorter than this
    /// (design default 2048 tokens).
    /// </summary>
    public int MinRemotePrefillTokens { get; init; } = 2048;

    /// <summary>Disaggregated: prefill locally when the uncached fraction of the prompt is below this (design default 0.7).</summary>
    public double MinRemoteUncachedFraction { get; init; } = 0.7;

    /// <summary>Virtual seconds between KV-usage samples. Default 1.</summary>
    public double SampleIntervalS { get; init; } = 1.0;

    public SloTargets Slo { get; init; } = new();

    public int Seed { get; init; }

    public int VocabSize { get; init; } = 32000;

    /// <summary>
    /// A policy that resizes the pools during the run (<c>--planner FILE</c>); null keeps them at
    /// <see cref="Workers"/> or <see cref="PrefillWorkers"/> + <see cref="DecodeWorkers"/> (the static baseline).
    /// Those counts are then the pools' sizes at the start.
    /// </summary>
    public ReplayPlanner? Planner { get; init; }

    public bool IsDisaggregated => Mode == "disagg";

    /// <summary>
    /// GPUs the cluster uses (at the start, when a planner resizes it): prefill workers × prefill TP + decode workers ×
    /// decode TP, or workers × TP.
    /// </summary>
    public int Gpus => IsDisaggregated
        ? (PrefillWorkers * (PrefillProfile ?? Profile).GpusPerWorker) + (DecodeWorkers * Profile.GpusPerWorker)
        : Workers * Profile.GpusPerWorker;

    public string? FirstError()
    {
        if (Mode is not ("agg" or "disagg"))
        {
            return $"--mode must be agg or disagg (got '{Mode}').";
        }

        if (!IsDisaggregated && Workers < 1)
        {
            return $"--workers must be at least 1 (got {Workers}).";
        }

        if (IsDisaggregated && (PrefillWorkers < 0 || DecodeWorkers < 1))
        {
            return $"disagg needs --decode-workers >= 1 and --prefill-workers >= 0 (got {PrefillWorkers} prefill, {DecodeWorkers} decode).";
        }

        if (PrefillProfile is { } prefill)
        {
            if (!IsDisaggregated)
            {
                return $"a prefill profile (--prefill-tp) applies to disagg mode only (got mode {Mode}): aggregated workers prefill and decode alike; set their degree with --tp.";
            }

            if (prefill.BlockSize != Profile.BlockSize || prefill.KvBytesPerToken != Profile.KvBytesPerToken)
            {
                return $"the prefill profile {prefill.Name} ({prefill.BlockSize}-token blocks, {prefill.KvBytesPerToken} KV bytes a token) and the decode profile {Profile.Name} ({Profile.BlockSize}, {Profile.KvBytesPerToken}) must share the block size and KV layout: pick one model and precision for both roles.";
            }
        }

        if (Router != "oracle" && !Dynamo.Router.RouterOptions.TryParseMode(Router, out _))
        {
            return $"--router must be round-robin, random, least-loaded, kv or oracle (got '{Router}').";
        }

        if (KvCost is not null && !Dynamo.Router.RouterOptions.TryParseCost(KvCost, out _))
        {
            return $"--kv-cost must be predicted or blocks (got '{KvCost}').";
        }

        bool blocks = KvCost is not null && Dynamo.Router.RouterOptions.TryParseCost(KvCost, out var model) && model == Dynamo.Router.KvCostModel.Blocks;
        if (PrefillLoadScale is { } scale && scale != 1.0 && !blocks)
        {
            return $"--prefill-load-scale applies to the block cost only (got {scale} with the predicted cost): add --kv-cost blocks, or tune --decode-impact-weight.";
        }

        if ((BalanceAbsoluteThreshold is not null || BalanceRelativeThreshold is not null) && blocks)
        {
            return "--balance-absolute and --balance-relative apply to the predicted cost only: drop them, or drop --kv-cost blocks.";
        }

        if (BalanceAbsoluteThreshold is < 0)
        {
            return $"--balance-absolute must be 0 (off) or more (got {BalanceAbsoluteThreshold}).";
        }

        if (BalanceRelativeThreshold is { } ratio && !(double.IsFinite(ratio) && ratio >= 1))
        {
            return $"--balance-relative must be a finite number >= 1 (got {ratio}).";
        }

        if ((BusyCostMs is not null || BusyWindowS is not null || BusyFloor is not null || BusyCostTokens is not null) && blocks)
        {
            return "--busy-cost, --busy-cost-tokens, --busy-floor and --busy-window apply to the predicted cost only: drop them, or drop --kv-cost blocks.";
        }

        if (BusyCostTokens is < 0)
        {
            return $"--busy-cost-tokens must be 0 (the full busy cost for every prompt) or a number of tokens (got {BusyCostTokens}).";
        }

        if (BusyFloor is { } floor && !(double.IsFinite(floor) && floor >= 0 && floor < 1))
        {
            return $"--busy-floor must be a fraction >= 0 and < 1 (got {floor}).";
        }

        if (BusyCostMs is { } busy && !(double.IsFinite(busy) && busy >= 0))
        {
            return $"--busy-cost must be a finite number >= 0 (got {busy}).";
        }

        if (BusyWindowS is { } window && !(double.IsFinite(window) && window > 0))
        {
            return $"--busy-window must be a number of seconds above 0 (got {window}).";
        }

        if (DecodeImpactWeight is not null && blocks)
        {
            return "--decode-impact-weight applies to the predicted cost only: drop it, or drop --kv-cost blocks.";
        }

        if (DecodeImpactWeight is { } weight && !(double.IsFinite(weight) && weight >= 0))
        {
            return $"--decode-impact-weight must be a finite number >= 0 (got {weight}).";
        }

        if (!(SampleIntervalS > 0))
        {
            return $"sample interval must be > 0 (got {SampleIntervalS}).";
        }

        return Planner?.FirstError();
    }
}
