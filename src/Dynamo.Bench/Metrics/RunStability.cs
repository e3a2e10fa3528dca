using System.Globalization;
using System.Text.Json.Serialization;

namespace Dynamo.Bench.Metrics;

/// <summary>
/// Whether a run kept up with its load, from the requests' arrival and end times alone (bench, replay, sweep).
/// <para><b>Offered rate</b>: arrivals per second between the 10th- and 90th-percentile arrival. <b>Served rate</b>:
/// successful requests that ended in the same window shifted by the median latency (arrival to end), per second of
/// it. A system that keeps up ends, one median latency later, what arrived, so the two agree; one that falls behind
/// ends only what it can. Measuring both inside the run keeps one slow last request, or the empty system at the
/// start, from reading as a deficit (the first-to-last rate did: 600 requests at 8 req/s read as 96 % served).</para>
/// <para><b>In the system</b>: requests arrived and not yet ended, averaged over the middle and over the last third of
/// the arrival window (first to last arrival; the first third holds the ramp-up from an empty system).</para>
/// <para>A run is <b>stable</b> when served ≥ <see cref="MinServedFraction"/> × offered and the requests in the
/// system did not grow: last third ≤ <see cref="MaxGrowth"/> × middle third + <see cref="GrowthSlack"/>. Runs of
/// fewer than <see cref="MinRequests"/> measured requests, or whose arrivals all fall at one instant, are not
/// judged (stable, with the reason saying so).</para>
/// </summary>
public sealed record RunStability
{
    public const double MinServedFraction = 0.97;
    public const double MaxGrowth = 1.25;
    public const double GrowthSlack = 2;
    public const int MinRequests = 10;

    [JsonPropertyName("offered_requests_per_s")]
    public double OfferedRequestsPerS { get; init; }

    [JsonPropertyName("served_requests_per_s")]
    public double ServedRequestsPerS { get; init; }

    /// <summary>Served ÷ offered (1 when not judged).</summary>
    [JsonPropertyName("served_fraction")]
    public double ServedFraction { get; init; } = 1;

    [JsonPropertyName("in_system_middle_third")]
    public double InSystemMiddle { get; init; }

    [JsonPropertyName("in_system_last_third")]
    public double InSystemLast { get; init; }

    [JsonPropertyName("stable")]
    public bool Stable { get; init; } = true;

    /// <summary>Why it is unstable (or why it was not judged); empty when stable.</summary>
    [JsonPropertyName("reason")]
    public string Reason { get; init; } = "";

    public static RunStability Of(IReadOnlyList<RequestResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var measured = results.Where(r => r.Measured).ToList();
        if (measured.Count < MinRequests)
        {
            return new RunStability { Reason = $"not judged: {measured.Count} measured requests (fewer than {MinRequests})" };
        }

        double[] arrivals = [.. measured.Select(r => r.StartS).Order()];
        double[] ends = [.. measured.Select(r => r.StartS + (r.E2eMs / 1000)).Order()];
        double[] latencies = [.. measured.Select(r => r.E2eMs / 1000).Order()];
        double lag = latencies[latencies.Length / 2];
        int lo = (int)Math.Floor(0.1 * (arrivals.Length - 1));
        int hi = (int)Math.Ceiling(0.9 * (arrivals.Length - 1));
        double arrivalSpan = arrivals[hi] - arrivals[lo];
        if (!(arrivalSpan > 0))
        {
            return new RunStability { Reason = "not judged: the requests arrived at one instant (closed loop or a burst)" };
        }

        double offered = (hi - lo) / arrivalSpan;
        double from = arrivals[lo] + lag, to = arrivals[hi] + lag;
        int ended = measured.Count(r => r.Succeeded && r.StartS + (r.E2eMs / 1000) is var end && end > from && end <= to);
        double served = ended / arrivalSpan;
        double fraction = served / offered;

        double first = arrivals[0], last = arrivals[^1], third = (last - first) / 3;
        double middle = MeanInSystem(arrivals, ends, first + third, first + (2 * third));
        double tail = MeanInSystem(arrivals, ends, first + (2 * third), last);
        bool keptUp = fraction >= MinServedFraction;
        bool growing = tail > (MaxGrowth * middle) + GrowthSlack;
        var reasons = new List<string>();
        if (!keptUp)
        {
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"served {served:0.###} of {offered:0.###} req/s offered ({fraction * 100:0.#}% < {MinServedFraction * 100:0}%)"));
        }

        if (growing)
        {
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"requests in the system grew from {middle:0.#} (middle third) to {tail:0.#} (last third)"));
        }

        return new RunStability
        {
            OfferedRequestsPerS = offered,
            ServedRequestsPerS = served,
            ServedFraction = fraction,
            InSystemMiddle = middle,
            InSystemLast = tail,
            Stable = keptUp && !growing,
            Reason = string.Join("; ", reasons),
        };
    }

    /// <summary>Mean of (arrived − ended) over [from, to], sampled at 200 instants; both arrays sorted.</summary>
    private static double MeanInSystem(double[] arrivals, double[] ends, double from, double to)
    {
        const int Samples = 200;
        double sum = 0;
        for (int i = 0; i < Samples; i++)
        {
            double t = from + ((to - from) * (i + 0.5) / Samples);
            sum += CountAtOrBefore(arrivals, t) - CountAtOrBefore(ends, t);
        }

        return sum / Samples;
    }

    private static int CountAtOrBefore(double[] sorted, double t)
    {
        int index = Array.BinarySearch(sorted, t);
        if (index < 0)
        {
            return ~index;
        }

        while (index + 1 < sorted.Length && sorted[index + 1] <= t)
        {
            index++;
        }

        return index + 1;
    }
}
