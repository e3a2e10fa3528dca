using System.Globalization;
using Dynamo.Bench.Metrics;

namespace Dynamo.Bench.Sweep;

/// <summary>
/// One point's outcome, judged against <paramref name="Targets"/>. A point is <see cref="Eligible"/> when it served
/// requests, is <see cref="Stable"/> (<see cref="RunStability"/>: it kept up with its offered rate and its queue did
/// not grow), and its TTFT p90 and ITL p90 (token gaps or request means, as the targets' <c>itl_metric</c> says) meet
/// the targets. Goodput per GPU, the sweep's figure of merit, is an eligible point's served rate ÷ its GPUs, and 0
/// for any other point: requests that happened to be fast in a run whose queue grew do not count.
/// </summary>
public sealed record SweepRow(SweepPoint Point, BenchSummary Summary, SloTargets? Targets = null)
{
    private SloTargets Slo => Targets ?? Summary.Slo;

    public double ThroughputPerGpu => Summary.OutputTokensPerS / Point.Gpus;

    /// <summary>False when the run fell behind its load, or when its summary predates the stability figures.</summary>
    public bool Stable => Summary.Stability?.Stable ?? false;

    public double ServedRate => Summary.Stability?.ServedRequestsPerS ?? Summary.RequestsPerS;

    public double OfferedRate => Summary.Stability?.OfferedRequestsPerS ?? Point.Rate;

    /// <summary>The TTFT the target is judged on: p90.</summary>
    public double TtftAtSla => Summary.TtftMs.P90;

    /// <summary>The ITL the target is judged on: p90 of every token gap (token_p90), or of each request's mean gap (request_mean).</summary>
    public double ItlAtSla => Slo.ItlMetric == ItlMetrics.RequestMean || Summary.ItlTokenMs.Count == 0 ? Summary.ItlMs.P90 : Summary.ItlTokenMs.P90;

    /// <summary>Name of <see cref="ItlAtSla"/> for reports.</summary>
    public string ItlLabel => Slo.ItlMetric == ItlMetrics.RequestMean || Summary.ItlTokenMs.Count == 0 ? "ITL p90 (request mean gap)" : "ITL p90 (token gaps)";

    /// <summary>Why the point is not eligible; empty when it is.</summary>
    public IReadOnlyList<string> Failures
    {
        get
        {
            var failures = new List<string>();
            if (Summary.Requests == 0)
            {
                failures.Add("no request succeeded");
            }

            if (Summary.Stability is null)
            {
                failures.Add("stability not measured (a point file from an older sweep)");
            }
            else if (!Summary.Stability.Stable)
            {
                failures.Add("unstable: " + Summary.Stability.Reason);
            }

            if (Slo.TtftMs is { } ttft && !(TtftAtSla <= ttft))
            {
                failures.Add(string.Create(CultureInfo.InvariantCulture, $"TTFT p90 {TtftAtSla:0.#} ms > target {ttft:0.#} ms"));
            }

            if (Slo.ItlMs is { } itl && !(ItlAtSla <= itl))
            {
                failures.Add(string.Create(CultureInfo.InvariantCulture, $"{ItlLabel} {ItlAtSla:0.##} ms > target {itl:0.#} ms"));
            }

            return failures;
        }
    }

    public bool Eligible => Failures.Count == 0;

    /// <summary>Served requests/s ÷ GPUs of an eligible point; 0 otherwise.</summary>
    public double GoodputPerGpu => Eligible ? ServedRate / Point.Gpus : 0;

    /// <summary>
    /// How far the point is from eligible: the largest of TTFT ÷ target, ITL ÷ target and offered ÷ served (1 or less
    /// for each criterion met), plus 1 when the requests in the system grew. Orders the points when none is eligible.
    /// </summary>
    public double Shortfall
    {
        get
        {
            double worst = Math.Max(Slo.TtftMs is { } t && t > 0 ? TtftAtSla / t : 0, Slo.ItlMs is { } i && i > 0 ? ItlAtSla / i : 0);
            if (Summary.Stability is not { } s)
            {
                return worst + 1;
            }

            worst = Math.Max(worst, s.ServedFraction > 0 ? 1 / s.ServedFraction : double.MaxValue);
            bool growing = s.InSystemLast > (RunStability.MaxGrowth * s.InSystemMiddle) + RunStability.GrowthSlack;
            return worst + (growing ? 1 : 0) + (Summary.Requests == 0 ? double.MaxValue / 2 : 0);
        }
    }
}
