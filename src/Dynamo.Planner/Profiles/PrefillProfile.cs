namespace Dynamo.Planner.Profiles;

/// <summary>
/// A prefill worker's performance over a grid of prompt lengths (<c>"prefill"</c> in profile.json).
/// <list type="bullet">
/// <item><c>ttft_ms</c>: time to first token of a lone request of that ISL on an idle worker (no queueing);</item>
/// <item><c>tokens_per_s_per_gpu</c>: prompt tokens per second per GPU with the worker saturated by prompts of that
/// ISL (batched prefill), the most the worker can take.</item>
/// </list>
/// Between grid points both are interpolated linearly. Outside: TTFT is extrapolated along the nearest segment
/// (latency keeps growing with ISL), the throughput is clamped to the nearest point (never promise more than was
/// measured).
/// </summary>
public sealed class PrefillProfile
{
    private readonly LinearInterpolator _ttft;
    private readonly LinearInterpolator _throughput;

    /// <exception cref="ArgumentException">Grid and values of different lengths, an ISL grid not increasing, or values that are not positive.</exception>
    public PrefillProfile(int gpusPerWorker, IReadOnlyList<double> isl, IReadOnlyList<double> ttftMs, IReadOnlyList<double> tokensPerSecondPerGpu)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gpusPerWorker, 1);
        if (ttftMs.Any(v => !(v > 0)) || tokensPerSecondPerGpu.Any(v => !(v > 0)))
        {
            throw new ArgumentException("TTFT and throughput must be positive at every grid point.");
        }

        GpusPerWorker = gpusPerWorker;
        _ttft = new LinearInterpolator(isl, ttftMs, Extrapolation.Linear);
        _throughput = new LinearInterpolator(isl, tokensPerSecondPerGpu, Extrapolation.Clamp);
    }

    public int GpusPerWorker { get; }

    public IReadOnlyList<double> Isl => _ttft.X;

    public IReadOnlyList<double> TtftMsGrid => _ttft.Y;

    public IReadOnlyList<double> TokensPerSecondPerGpuGrid => _throughput.Y;

    /// <summary>TTFT of a lone request of <paramref name="isl"/> prompt tokens on an idle worker, ms.</summary>
    public double TtftMs(double isl) => _ttft.Evaluate(isl);

    /// <summary>Prompt tokens per second per GPU with the worker saturated at <paramref name="isl"/>.</summary>
    public double TokensPerSecondPerGpu(double isl) => _throughput.Evaluate(isl);

    /// <summary>Prompt tokens per second one worker (all its GPUs) takes when saturated at <paramref name="isl"/>.</summary>
    public double TokensPerSecondPerWorker(double isl) => TokensPerSecondPerGpu(isl) * GpusPerWorker;
}
