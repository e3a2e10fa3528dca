using System.Buffers;
using System.Runtime.CompilerServices;

namespace Dynamo.Router.Kv;

/// <summary>
/// Picks a worker from costs: the lowest wins; ties go to the worker with the smaller cache (fewer indexed blocks,
/// so less to evict), then at random. With temperature T &gt; 0, samples with <c>p ∝ exp(−(cost/(max−min))/T)</c>
/// instead, so near-equal workers share traffic.
/// </summary>
internal static class WorkerSelector
{
    public static int Select(ReadOnlySpan<double> costs, ReadOnlySpan<long> cacheBlocks, double temperature, Random random) =>
        Select(costs, new CacheSizeArray(cacheBlocks.ToArray()), temperature, random);

    /// <summary>
    /// As above; <paramref name="cacheBlocks"/> is asked only for the candidates tied at the lowest cost (at 1,000
    /// workers, reading every candidate's block count was a thousand cache lines per decision for a tie-break).
    /// </summary>
    public static int Select<TSizes>(ReadOnlySpan<double> costs, TSizes cacheBlocks, double temperature, Random random)
        where TSizes : struct, ICacheSizes
    {
        if (costs.Length == 1)
        {
            return 0;
        }

        return temperature > 0 ? Sample(costs, temperature, random) : Lowest(costs, cacheBlocks, random);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Lowest<TSizes>(ReadOnlySpan<double> costs, TSizes cacheBlocks, Random random)
        where TSizes : struct, ICacheSizes
    {
        var best = 0;
        var ties = 1;
        for (var i = 1; i < costs.Length; i++)
        {
            if (costs[i] < costs[best])
            {
                best = i;
                ties = 1;
            }
            else if (costs[i] == costs[best])
            {
                ties++;
            }
        }

        if (ties == 1)
        {
            return best;
        }

        // Among the lowest cost, the smallest cache; then one draw for the whole tied set (a lock and a draw per tie
        // cost a 1,000-worker idle cluster 1,000 of each). Each tied candidate's size is read once and the winners
        // kept: the index changes under a live router (KV events land between two reads), and a second pass that
        // re-read the sizes could find fewer winners than the first counted and run off the end of the list.
        var lowest = costs[best];
        var smallest = long.MaxValue;
        int[]? rented = null;
        var winners = ties <= 128 ? stackalloc int[ties] : (rented = ArrayPool<int>.Shared.Rent(ties)).AsSpan(0, ties);
        var found = 0;
        try
        {
            for (var i = best; i < costs.Length; i++)
            {
                if (costs[i] != lowest)
                {
                    continue;
                }

                var size = cacheBlocks.Of(i);
                if (size < smallest)
                {
                    smallest = size;
                    found = 0;
                }

                if (size == smallest)
                {
                    winners[found++] = i;
                }
            }

            return found == 1 ? winners[0] : winners[Next(random, found)];
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
        }
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

/// <summary>Blocks each candidate caches, asked by position in the candidate list.</summary>
internal interface ICacheSizes
{
    long Of(int candidate);
}

internal readonly struct CacheSizeArray(long[] sizes) : ICacheSizes
{
    public long Of(int candidate) => sizes[candidate];
}
