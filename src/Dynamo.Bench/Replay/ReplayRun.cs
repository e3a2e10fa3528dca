using Dynamo.Bench.Metrics;

namespace Dynamo.Bench.Replay;

/// <summary>What a simulated run produced.</summary>
public sealed record ReplayRun
{
    public required IReadOnlyList<RequestResult> Results { get; init; }

    public required IReadOnlyList<WorkerReport> Workers { get; init; }

    public required IReadOnlyList<KvUsageSample> KvUsage { get; init; }

    /// <summary>Wall-clock time of the router's Select calls, microseconds.</summary>
    public required LatencySummary RouterDecisionUs { get; init; }

    /// <summary>
    /// The same, by prompt length (<see cref="DecisionBuckets"/>): a decision hashes and looks up every prompt block,
    /// so its time grows with the prompt, and the router's goal is stated for a 4K-token one.
    /// </summary>
    public IReadOnlyList<DecisionBucket> RouterDecisionUsByPrompt { get; init; } = [];

    /// <summary>
    /// Wall-clock time of a fixed computation (hashing <see cref="ClusterSimulator.ControlTokens"/> tokens, about as
    /// long as a short prompt's decision) run right after each decision, microseconds: its p99 ÷ p50 is the tail this
    /// machine gives any computation that short, against which the decision times' tail can be read.
    /// </summary>
    public LatencySummary TimingControlUs { get; init; } = new();

    /// <summary>Simulated seconds from the first arrival to the last completion.</summary>
    public double SimulatedS { get; init; }

    /// <summary>Wall-clock seconds the simulation took.</summary>
    public double WallS { get; init; }

    /// <summary>Disaggregated: fraction of requests prefilled on a prefill worker (the rest prefilled on their decode worker).</summary>
    public double RemotePrefillFraction { get; init; }

    public long Preemptions { get; init; }

    public long Events { get; init; }

    /// <summary>
    /// GPUs × hours: every worker's GPUs from when it was asked for (starting workers included) until it stopped or the
    /// run ended (<see cref="EndS"/>).
    /// </summary>
    public double GpuHours { get; init; }

    /// <summary>Virtual seconds from 0 to the last completion: the span <see cref="GpuHours"/> is taken over.</summary>
    public double EndS { get; init; }

    /// <summary>The pools' desired sizes at the start and at each change (one entry without a planner).</summary>
    public IReadOnlyList<ScalingChange> Scaling { get; init; } = [];

    /// <summary>Every planner decision (none without a planner).</summary>
    public IReadOnlyList<TimedDecision> Decisions { get; init; } = [];

    /// <summary>Ready, starting and draining workers per pool at each KV-usage sample.</summary>
    public IReadOnlyList<PoolSample> PoolSamples { get; init; } = [];

    /// <summary>
    /// The prefix hit rate one cluster-wide LRU cache of the cluster's total KV capacity (at the start) would reach on
    /// the same requests (<see cref="ClusterLruBaseline"/>); null with no request.
    /// </summary>
    public double? ClusterLruHitRate { get; init; }

    /// <summary>
    /// The busiest worker's busy time ÷ the mean busy time, over the workers that served (<see cref="Workers"/>): 1 is
    /// an even spread, N (of N workers) all work on one. 1 with one worker; null with none, or when none was busy.
    /// </summary>
    public double? WorkerBusyMaxOverMean => BusyMaxOverMean(Workers);

    /// <inheritdoc cref="WorkerBusyMaxOverMean"/>
    public static double? BusyMaxOverMean(IReadOnlyList<WorkerReport> workers)
    {
        ArgumentNullException.ThrowIfNull(workers);
        double mean = workers.Count == 0 ? 0 : workers.Average(w => w.BusyS);
        return mean > 0 ? workers.Max(w => w.BusyS) / mean : null;
    }
}

/// <summary>One simulated worker's load over the run.</summary>
public sealed record WorkerReport(string Id, string Role, long Requests, long PromptTokens, long CachedTokens, long OutputTokens, double BusyFraction, double MeanKvUsage, double PeakKvUsage, long Steps, long Preemptions)
{
    /// <summary>Virtual seconds it spent in steps (prefill or decode) over the run.</summary>
    public double BusyS { get; init; }

    /// <summary>When it was asked for, virtual seconds (0 for the workers of the start).</summary>
    public double StartS { get; init; }

    /// <summary>When it joined routing.</summary>
    public double? ReadyS { get; init; }

    /// <summary>When it stopped after draining; null when it served to the end.</summary>
    public double? StopS { get; init; }

    public double HitRate => PromptTokens == 0 ? 0 : (double)CachedTokens / PromptTokens;
}

/// <summary>KV pool usage across the cluster at one simulated instant (fractions of each worker's pool).</summary>
public readonly record struct KvUsageSample(double TimeS, double Mean, double Max, int ActiveRequests);

/// <summary>Router decision times of the prompts in one length range (<see cref="DecisionBuckets"/>).</summary>
public sealed record DecisionBucket(string PromptTokens, LatencySummary DecisionUs);

/// <summary>Prompt-length ranges the replay reports router decision times by.</summary>
public static class DecisionBuckets
{
    /// <summary>Upper bounds in tokens, inclusive; the last range is open.</summary>
    public static readonly int[] Limits = [4096, 16384, 65536, int.MaxValue];

    public static readonly string[] Labels = ["<=4096", "4097-16384", "16385-65536", ">65536"];

    public static int Of(int promptTokens)
    {
        var i = 0;
        while (promptTokens > Limits[i])
        {
            i++;
        }

        return i;
    }
}
