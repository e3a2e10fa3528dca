namespace Dynamo.Planner;

/// <summary>
/// The queueing arithmetic the planner sizes pools with, for a mean (<c>attainment</c> null, the planner's model
/// before attainment sizing) or for a percentile of requests (the SLA attainment goal). A worker is a single server
/// with deterministic service at the mean prompt (M/D/1, as the profile's lone-request TTFT describes it): routing is
/// final at arrival, so each worker queues on its own rather than the pool sharing one queue. Against the simulated
/// engine (bench/README.md, P8) this errs optimistic for a lone worker (prompt lengths vary, and a prompt's first token
/// waits for its whole batched step) and is close once the router spreads load over several; exponential service
/// (<see cref="ServiceScv"/> 1) errs pessimistic there, and over-provisions every pool of several workers. The
/// prefill pool is therefore sized with the overloads that take Cs², at <see cref="PlannerSlaOptions.PromptScv"/> ÷ c
/// for a pool of c workers (<see cref="SlaPlanner.Plan"/>); the aggregated model keeps <see cref="ServiceScv"/>.
/// </summary>
public static class Queueing
{
    /// <summary>
    /// The squared coefficient of variation of service times (prompt work) the percentile sizing assumes: 0,
    /// deterministic at the mean prompt (see the class remarks).
    /// </summary>
    public const double ServiceScv = 0;

    /// <summary>
    /// TTFT ÷ the lone-request TTFT t₀ at utilization <paramref name="rho"/> (0 ≤ ρ &lt; 1). Mean: the
    /// Pollaczek–Khinchine wait, 1 + ρ / 2(1 − ρ). Percentile q: a request waits with probability ρ, and the wait of
    /// those that do is close to exponential with mean t₀ (1 + Cs²) / 2(1 − ρ) = t₀ / 2(1 − ρ) (the heavy-traffic
    /// tail of M/G/1 with Cs² = <see cref="ServiceScv"/>), so the q-th percentile is 1 + ln(ρ / (1 − q)) / 2(1 − ρ)
    /// when ρ &gt; 1 − q, else 1 (that many requests do not wait).
    /// </summary>
    public static double TtftFactor(double rho, double? attainment) => TtftFactor(rho, attainment, ServiceScv);

    /// <summary><see cref="TtftFactor(double, double?)"/> with the service times' squared coefficient of variation <paramref name="scv"/>.</summary>
    public static double TtftFactor(double rho, double? attainment, double scv)
    {
        if (rho <= 0)
        {
            return 1;
        }

        if (rho >= 1)
        {
            return double.PositiveInfinity;
        }

        if (attainment is not { } q)
        {
            return 1 + (rho / (2 * (1 - rho)));
        }

        return rho > 1 - q ? 1 + (Math.Log(rho / (1 - q)) * (1 + scv) / (2 * (1 - rho))) : 1;
    }

    /// <summary>
    /// The highest utilization at which <see cref="TtftFactor"/> stays within <paramref name="ratio"/> = TTFT target
    /// ÷ t₀ (&gt; 1); 0 when the ratio is 1 or less.
    /// </summary>
    public static double MaxUtilization(double ratio, double? attainment) => MaxUtilization(ratio, attainment, ServiceScv);

    /// <summary><see cref="MaxUtilization(double, double?)"/> with the service times' squared coefficient of variation <paramref name="scv"/>.</summary>
    public static double MaxUtilization(double ratio, double? attainment, double scv)
    {
        if (!(ratio > 1))
        {
            return 0;
        }

        if (attainment is null)
        {
            // 1 + ρ / 2(1 − ρ) = r  ⇒  ρ = 2(r − 1) / (1 + 2(r − 1)).
            double slack = 2 * (ratio - 1);
            return slack / (1 + slack);
        }

        double low = 0, high = 1;
        for (int i = 0; i < 64; i++)
        {
            double mid = (low + high) / 2;
            (low, high) = TtftFactor(mid, attainment, scv) <= ratio ? (mid, high) : (low, mid);
        }

        return low;
    }

    /// <summary>
    /// The standard normal quantile Φ⁻¹(<paramref name="p"/>), 0 &lt; p &lt; 1 (Acklam's rational approximation,
    /// relative error below 1.2e-9).
    /// </summary>
    public static double NormalQuantile(double p)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(p, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(p, 1);
        double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        const double Low = 0.02425;
        if (p < Low)
        {
            double q = Math.Sqrt(-2 * Math.Log(p));
            return Horner(c, q) / ((Horner(d, q) * q) + 1);
        }

        if (p > 1 - Low)
        {
            return -NormalQuantile(1 - p);
        }

        double r = p - 0.5, s = r * r;
        return Horner(a, s) * r / ((Horner(b, s) * s) + 1);
    }

    private static double Horner(double[] coefficients, double x)
    {
        double sum = 0;
        foreach (double k in coefficients)
        {
            sum = (sum * x) + k;
        }

        return sum;
    }
}
