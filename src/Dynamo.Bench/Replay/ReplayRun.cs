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
}

/// <summary>One simulated worker's load over the run.</summary>
public sealed record WorkerReport(string Id, string Role, long Requests, long PromptTokens, long CachedTokens, long OutputTokens, double BusyFraction, double MeanKvUsage, double PeakKvUsage, long Steps, long Preemptions)
{
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
