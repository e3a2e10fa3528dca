using System.Globalization;

namespace Dynamo.Bench.Workload;

/// <summary>
/// A token-length distribution, written <c>N</c> (fixed), <c>uniform:MIN:MAX</c>, <c>normal:MEAN:STDDEV</c>,
/// <c>lognormal:MEDIAN:SIGMA</c> (sigma of the underlying normal) or <c>pareto:MIN:ALPHA</c> (heavy-tailed:
/// P(X ≥ x) = (MIN ÷ x)^ALPHA for x ≥ MIN; the mean is infinite for ALPHA ≤ 1). Samples are rounded (uniform and
/// pareto: floored, so pareto's tail law holds at every integer from MIN) and kept at least 1.
/// </summary>
public sealed record LengthDistribution(string Kind, double A, double B)
{
    public static LengthDistribution Fixed(int n) => new("fixed", n, 0);

    public int Sample(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        double value = Kind switch
        {
            "fixed" => A,
            "uniform" => A + (random.NextDouble() * (B - A + 1)),
            "normal" => A + (B * Gaussian(random)),
            "lognormal" => A * Math.Exp(B * Gaussian(random)),
            "pareto" => A / Math.Pow(1.0 - random.NextDouble(), 1.0 / B),
            _ => throw new InvalidOperationException($"Unknown distribution '{Kind}'."),
        };
        return (int)Math.Clamp(Math.Floor(value + (Kind is "uniform" or "pareto" ? 0 : 0.5)), 1, int.MaxValue);
    }

    /// <summary>Mean of the distribution (before rounding and the floor at 1).</summary>
    public double Mean => Kind switch
    {
        "uniform" => (A + B) / 2,
        "lognormal" => A * Math.Exp(B * B / 2),
        "pareto" => B > 1 ? B * A / (B - 1) : double.PositiveInfinity,
        _ => A,
    };

    /// <exception cref="FormatException">With a message naming <paramref name="what"/> and the bad text.</exception>
    public static LengthDistribution Parse(string text, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split(':', StringSplitOptions.TrimEntries);
        if (parts.Length == 1 && int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int n))
        {
            return n >= 1 ? Fixed(n) : throw new FormatException($"{what} must be at least 1 (got '{text}').");
        }

        if (parts.Length == 3
            && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double a)
            && double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out double b))
        {
            string kind = parts[0].ToLowerInvariant();
            string? error = kind switch
            {
                "uniform" when a < 1 || b < a => "uniform:MIN:MAX needs 1 <= MIN <= MAX",
                "normal" when a < 1 || b < 0 => "normal:MEAN:STDDEV needs MEAN >= 1 and STDDEV >= 0",
                "lognormal" when a < 1 || b < 0 => "lognormal:MEDIAN:SIGMA needs MEDIAN >= 1 and SIGMA >= 0",
                "pareto" when a < 1 || !(b > 0) => "pareto:MIN:ALPHA needs MIN >= 1 and ALPHA > 0",
                "uniform" or "normal" or "lognormal" or "pareto" => null,
                _ => $"unknown distribution '{parts[0]}'",
            };
            return error is null ? new LengthDistribution(kind, a, b) : throw new FormatException($"{what} '{text}': {error}.");
        }

        throw new FormatException($"{what} '{text}' is not a length: use N, uniform:MIN:MAX, normal:MEAN:STDDEV, lognormal:MEDIAN:SIGMA or pareto:MIN:ALPHA.");
    }

    public override string ToString() => Kind == "fixed"
        ? A.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{Kind}:{A}:{B}");

    private static double Gaussian(Random random)
    {
        // Box-Muller; 1 - u keeps the logarithm finite.
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
