namespace Dynamo.Planner.Profiles;

/// <summary>
/// Piecewise-linear interpolation of y over strictly increasing grid points x. Outside the grid, the
/// <see cref="Extrapolation"/> policy decides. One grid point is a constant.
/// </summary>
public sealed class LinearInterpolator
{
    private readonly double[] _x;
    private readonly double[] _y;

    /// <exception cref="ArgumentException">Empty grid, lengths that differ, x not strictly increasing, or a value that is not finite.</exception>
    public LinearInterpolator(IReadOnlyList<double> x, IReadOnlyList<double> y, Extrapolation extrapolation)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count == 0 || x.Count != y.Count)
        {
            throw new ArgumentException($"A grid needs as many values as points, at least one (got {x.Count} points, {y.Count} values).");
        }

        for (int i = 0; i < x.Count; i++)
        {
            if (!double.IsFinite(x[i]) || !double.IsFinite(y[i]))
            {
                throw new ArgumentException($"Grid point {i} is not a finite number (x = {x[i]}, y = {y[i]}).");
            }

            if (i > 0 && x[i] <= x[i - 1])
            {
                throw new ArgumentException($"Grid points must increase strictly (point {i}: {x[i]} after {x[i - 1]}).");
            }
        }

        _x = [.. x];
        _y = [.. y];
        Extrapolation = extrapolation;
    }

    public Extrapolation Extrapolation { get; }

    public IReadOnlyList<double> X => _x;

    public IReadOnlyList<double> Y => _y;

    public double this[double x] => Evaluate(x);

    public double Evaluate(double x)
    {
        (int i, double t) = Locate(_x, x, Extrapolation);
        double value = _x.Length == 1 ? _y[0] : _y[i] + (t * (_y[i + 1] - _y[i]));
        return Extrapolation == Extrapolation.Linear && (x < _x[0] || x > _x[^1]) ? Math.Max(0, value) : value;
    }

    /// <summary>
    /// The segment holding <paramref name="x"/> (index of its left point) and the fraction along it. Clamping pins
    /// the fraction to [0, 1] on the first or last segment; linear extrapolation lets it run past.
    /// </summary>
    internal static (int Index, double Fraction) Locate(double[] grid, double x, Extrapolation extrapolation)
    {
        if (grid.Length == 1)
        {
            return (0, 0);
        }

        int i = Array.BinarySearch(grid, x);
        if (i < 0)
        {
            i = ~i - 1;
        }

        i = Math.Clamp(i, 0, grid.Length - 2);
        double t = (x - grid[i]) / (grid[i + 1] - grid[i]);
        return (i, extrapolation == Extrapolation.Clamp ? Math.Clamp(t, 0, 1) : t);
    }
}
