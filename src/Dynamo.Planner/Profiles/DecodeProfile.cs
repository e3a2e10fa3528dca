namespace Dynamo.Planner.Profiles;

/// <summary>
/// A decode worker's performance over a 2-D grid (<c>"decode"</c> in profile.json): sequences decoding at once on
/// one worker (<c>concurrency</c>) × their context length in tokens (<c>context_length</c>) →
/// <c>itl_ms</c> (the step time every one of those sequences sees between tokens) and
/// <c>tokens_per_s_per_gpu</c> (output tokens per second per GPU). Rows are concurrency points, columns context
/// points. The KV usage of a grid point is concurrency × context ÷ <see cref="KvCapacity.TokensPerWorker"/>.
/// Bilinear between grid points; outside, ITL is extrapolated (latency keeps growing), throughput clamped.
/// </summary>
public sealed class DecodeProfile
{
    private readonly BilinearInterpolator _itl;
    private readonly BilinearInterpolator _throughput;
    private readonly double[][] _itlGrid;
    private readonly double[][] _throughputGrid;

    /// <exception cref="ArgumentException">Axes not increasing, rows of the wrong length, or values that are not positive.</exception>
    public DecodeProfile(int gpusPerWorker, IReadOnlyList<double> concurrency, IReadOnlyList<double> contextLength, IReadOnlyList<IReadOnlyList<double>> itlMs, IReadOnlyList<IReadOnlyList<double>> tokensPerSecondPerGpu)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gpusPerWorker, 1);
        if (concurrency.Count > 0 && !(concurrency[0] >= 1))
        {
            throw new ArgumentException($"Concurrency starts at 1 sequence or more (got {concurrency[0]}).");
        }

        if (itlMs.Any(row => row.Any(v => !(v > 0))) || tokensPerSecondPerGpu.Any(row => row.Any(v => !(v > 0))))
        {
            throw new ArgumentException("ITL and throughput must be positive at every grid point.");
        }

        GpusPerWorker = gpusPerWorker;
        _itl = new BilinearInterpolator(concurrency, contextLength, itlMs, Extrapolation.Linear);
        _throughput = new BilinearInterpolator(concurrency, contextLength, tokensPerSecondPerGpu, Extrapolation.Clamp);
        _itlGrid = [.. itlMs.Select(r => r.ToArray())];
        _throughputGrid = [.. tokensPerSecondPerGpu.Select(r => r.ToArray())];
    }

    public int GpusPerWorker { get; }

    public IReadOnlyList<double> Concurrency => _itl.X;

    public IReadOnlyList<double> ContextLength => _itl.Y;

    public IReadOnlyList<IReadOnlyList<double>> ItlMsGrid => _itlGrid;

    public IReadOnlyList<IReadOnlyList<double>> TokensPerSecondPerGpuGrid => _throughputGrid;

    /// <summary>ITL with <paramref name="concurrency"/> sequences of <paramref name="contextLength"/> tokens decoding on one worker, ms.</summary>
    public double ItlMs(double concurrency, double contextLength) => _itl.Evaluate(concurrency, contextLength);

    /// <summary>Output tokens per second per GPU at that point.</summary>
    public double TokensPerSecondPerGpu(double concurrency, double contextLength) => _throughput.Evaluate(concurrency, contextLength);

    /// <summary>
    /// The most sequences of <paramref name="contextLength"/> tokens one worker decodes at once with ITL ×
    /// <paramref name="correction"/> within <paramref name="itlTargetMs"/>, and no more than
    /// <paramref name="maxByKv"/> (what its KV cache holds) nor the grid's largest concurrency (the profile promises
    /// nothing it did not measure). Fractional: the planner sums it over workers. Null when even the smallest
    /// concurrency of the grid misses the target. ITL is taken as non-decreasing in concurrency.
    /// </summary>
    public double? MaxConcurrencyAt(double itlTargetMs, double contextLength, double correction = 1, double maxByKv = double.PositiveInfinity)
    {
        double low = Concurrency[0];
        double high = Math.Min(Concurrency[^1], maxByKv);
        bool Meets(double c) => ItlMs(c, contextLength) * correction <= itlTargetMs;
        if (high < low || !Meets(low))
        {
            return null;
        }

        if (Meets(high))
        {
            return high;
        }

        for (int i = 0; i < 64; i++)
        {
            double mid = (low + high) / 2;
            if (Meets(mid))
            {
                low = mid;
            }
            else
            {
                high = mid;
            }
        }

        return low;
    }
}
