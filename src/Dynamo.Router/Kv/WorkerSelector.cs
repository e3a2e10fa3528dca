namespace Dynamo.Router.Kv;

/// <summary>
/// Picks a worker from costs: the lowest wins; ties go to the worker with the smaller cache (fewer indexed blocks,
/// so less to evict), then at random. With temperature T &gt; 0, samples with <c>p ∝ exp(−(cost/(max−min))/T)</c>
/// instead, so near-equal workers share traffic.
/// </summary>
internal static class WorkerSelector
{
    public static int Select(ReadOnlySpan<double> costs, ReadOnlySpan<long> cacheBlocks, double temperature, Random random)
    {
        if (costs.Length == 1)
        {
            return 0;
        }

        return temperature > 0 ? Sample(costs, temperature, random) : Lowest(costs, cacheBlocks, random);
    }

    private static int Lowest(ReadOnlySpan<double> costs, ReadOnlySpan<long> cacheBlocks, Random random)
    {
        var best = 0;
        var ties = 1;
        for (var i = 1; i < costs.Length; i++)
        {
            var order = Compare(costs, cacheBlocks, i, best);
            if (order < 0)
            {
                best = i;
                ties = 1;
            }
            else if (order == 0)
            {
                ties++;
            }
        }

        if (ties == 1)
        {
            return best;
        }

        // One draw for the whole tied set (a lock and a draw per tie cost a 1,000-worker idle cluster 1,000 of each).
        var pick = Next(random, ties);
        for (var i = best; ; i++)
        {
            if (Compare(costs, cacheBlocks, i, best) == 0 && pick-- == 0)
            {
                return i;
            }
        }
    }

    private static int Compare(ReadOnlySpan<double> costs, ReadOnlySpan<long> cacheBlocks, int i, int j)
    {
        var order = costs[i].CompareTo(costs[j]);
        return order != 0 ? order : cacheBlocks[i].CompareTo(cacheBlocks[j]);
    }

    private static int Sample(ReadOnlySpan<double> costs, double temperature, Random random)
    {
        var min = double.MaxValue;
        var max = double.MinValue;
        foreach (var cost in costs)
        {
            min = Math.Min(min, cost);
            max = Math.Max(max, cost);
        }

        var range = max - min;
        Span<double> weights = costs.Length <= 256 ? stackalloc double[costs.Length] : new double[costs.Length];
        double total = 0;
        for (var i = 0; i < costs.Length; i++)
        {
            // Shifted by the minimum (the same distribution, no overflow); equal costs give a uniform draw.
            var normalized = range > 0 ? (costs[i] - min) / range : 0;
            weights[i] = Math.Exp(-normalized / temperature);
            total += weights[i];
        }

        double draw;
        lock (random)
        {
            draw = random.NextDouble() * total;
        }

        for (var i = 0; i < weights.Length; i++)
        {
            draw -= weights[i];
            if (draw < 0)
            {
                return i;
            }
        }

        return weights.Length - 1;
    }

    private static int Next(Random random, int maxExclusive)
    {
        lock (random)
        {
            return random.Next(maxExclusive);
        }
    }
}
