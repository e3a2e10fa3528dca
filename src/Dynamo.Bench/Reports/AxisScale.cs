using ScottPlot;

namespace Dynamo.Bench.Reports;

/// <summary>
/// Axis decisions shared by the plots: a quantity goes on a log axis when its positive values span more than
/// <see cref="LogDecades"/> decades (so points under a target are not squashed onto one line by a tail a thousand
/// times longer); a linear axis of a quantity that cannot be negative starts at zero.
/// </summary>
public static class AxisScale
{
    public const double LogDecades = 2;

    /// <summary>True when the positive values among <paramref name="values"/> span more than <see cref="LogDecades"/> decades.</summary>
    public static bool UseLog(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var positive = values.Where(v => v > 0 && double.IsFinite(v)).ToList();
        return positive.Count > 0 && Math.Log10(positive.Max() / positive.Min()) > LogDecades;
    }

    /// <summary>
    /// Limits of an axis over <paramref name="values"/>: on a log axis whole decades around them and a tenth of a decade
    /// more (in log10 units, the coordinates a log axis is drawn in); on a linear one from 0 to 10 % past the largest.
    /// </summary>
    public static (double Min, double Max) Limits(IEnumerable<double> values, bool log)
    {
        ArgumentNullException.ThrowIfNull(values);
        var positive = values.Where(v => v > 0 && double.IsFinite(v)).ToList();
        if (positive.Count == 0)
        {
            return log ? (0, 1) : (0, 1);
        }

        if (log)
        {
            double low = Math.Floor(Math.Log10(positive.Min()));
            double high = Math.Ceiling(Math.Log10(positive.Max()));
            // A tenth of a decade each side, so points on a decade line and its tick label are not cut at the edge.
            return (low - 0.1, Math.Max(high, low + 1) + 0.1);
        }

        return (0, positive.Max() * 1.1);
    }

    /// <summary>Where a value is drawn on the axis: log10 of it on a log axis.</summary>
    public static double Coordinate(double value, bool log) => log ? Math.Log10(Math.Max(value, 1e-9)) : value;

    /// <summary>Decade ticks labelled with the values (1, 10, 100, 1,000 ...) and minor ticks between them.</summary>
    public static void ApplyLogTicks(IAxis axis)
    {
        ArgumentNullException.ThrowIfNull(axis);
        axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = v => Math.Pow(10, v) is var x && x < 1 ? x.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) : x.ToString("N0", System.Globalization.CultureInfo.InvariantCulture),
        };
    }
}
