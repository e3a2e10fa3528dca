using Dynamo.Bench.Traces;

namespace Dynamo.Bench.Workload;

/// <summary>Builds the request sequence of a run from a trace or from length distributions and an arrival process.</summary>
public static class WorkloadBuilder
{
    /// <summary>Synthetic prompts get block ids from here up, so they never share a block with a Mooncake trace.</summary>
    private const long SyntheticIdBase = 1L << 50;

    /// <summary>
    /// The trace's requests in order. Arrivals follow the trace's timestamps divided by <paramref name="speedup"/>,
    /// or, when <paramref name="rate"/> is given, the arrival process at that rate.
    /// </summary>
    public static IEnumerable<BenchRequest> FromTrace(IReadOnlyList<TraceRecord> trace, ArrivalProcess arrival, double? rate, double speedup, int? maxRequests, int seed)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var random = new Random(seed);
        int count = Math.Min(trace.Count, maxRequests ?? int.MaxValue);
        double origin = trace.Count > 0 ? trace[0].TimestampMs : 0;
        double clock = 0;
        for (int i = 0; i < count; i++)
        {
            TraceRecord r = trace[i];
            TimeSpan at;
            if (arrival == ArrivalProcess.Trace || rate is null)
            {
                at = TimeSpan.FromMilliseconds(Math.Max(0, r.TimestampMs - origin) / speedup);
            }
            else
            {
                at = TimeSpan.FromSeconds(clock);
                clock += Gap(arrival, rate.Value, random);
            }

            IReadOnlyList<long> ids = r.HashIds.Length > 0 ? r.HashIds : UniqueIds(i, r.InputLength, seed);
            yield return new BenchRequest(i, at, r.InputLength, r.OutputLength, ids);
        }
    }

    /// <summary>Requests with lengths drawn from the distributions; endless when <paramref name="count"/> is null.</summary>
    public static IEnumerable<BenchRequest> Synthetic(LengthDistribution input, LengthDistribution output, ArrivalProcess arrival, double? rate, int? count, int seed)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        var random = new Random(seed);
        double clock = 0;
        for (int i = 0; count is null || i < count; i++)
        {
            int isl = input.Sample(random);
            int osl = output.Sample(random);
            yield return new BenchRequest(i, TimeSpan.FromSeconds(clock), isl, osl, UniqueIds(i, isl, seed));
            if (rate is { } r)
            {
                clock += Gap(arrival, r, random);
            }
        }
    }

    private static double Gap(ArrivalProcess arrival, double rate, Random random) => arrival switch
    {
        ArrivalProcess.Constant => 1.0 / rate,
        _ => -Math.Log(1.0 - random.NextDouble()) / rate,
    };

    private static long[] UniqueIds(int index, int inputLength, int seed)
    {
        var ids = new long[(inputLength + PromptSynthesizer.TraceBlockTokens - 1) / PromptSynthesizer.TraceBlockTokens];
        for (int b = 0; b < ids.Length; b++)
        {
            ids[b] = SyntheticIdBase + ((long)(seed & 0xFFFF) << 34) + ((long)index << 12) + b;
        }

        return ids;
    }
}
