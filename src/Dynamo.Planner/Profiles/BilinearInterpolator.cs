namespace Dynamo.Planner.Profiles;

/// <summary>
/// Bilinear interpolation of z over a rectangular grid: <c>z[i][j]</c> is the value at (<c>x[i]</c>, <c>y[j]</c>).
/// Within a cell, the value is linear along each axis (exact for planes and for z = a + b·x + c·y + d·x·y).
/// Outside the grid, each axis follows the <see cref="Extrapolation"/> policy separately. A single row or column
/// degrades to 1-D interpolation along the other axis.
/// </summary>
public sealed class BilinearInterpolator
{
    private readonly double[] _x;
    private readonly double[] _y;
    private readonly double[][] _z;

    /// <exception cref="ArgumentException">An empty or non-increasing axis, a row of the wrong length, or a value that is not finite.</exception>
    public BilinearInterpolator(IReadOnlyList<double> x, IReadOnlyList<double> y, IReadOnlyList<IReadOnlyList<double>> z, Extrapolation extrapolation)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(z);
        _x = CheckAxis(x, "x");
        _y = CheckAxis(y, "y");
        if (z.Count != _x.Length)
        {
            throw new ArgumentException($"The table needs one row per x point ({_x.Length}), got {z.Count}.");
        }

        _z = new double[_x.Length][];
        for (int i = 0; i < _x.Length; i++)
        {
            if (z[i] is null || z[i].Count != _y.Length)
            {
                throw new ArgumentException($"Row {i} needs one value per y point ({_y.Length}), got {z[i]?.Count ?? 0}.");
            }

            _z[i] = [.. z[i]];
            for (int j = 0; j < _y.Length; j++)
            {
                if (!double.IsFinite(_z[i][j]))
                {
                    throw new ArgumentException($"Value [{i}][{j}] is not a finite number ({_z[i][j]}).");
                }
            }
        }

        Extrapolation = extrapolation;
    }

    public Extrapolation Extrapolation { get; }

    public IReadOnlyList<double> X => _x;

    public IReadOnlyList<double> Y => _y;

    public double Evaluate(double x, double y)
    {
        (int i, double tx) = LinearInterpolator.Locate(_x, x, Extrapolation);
        (int j, double ty) = LinearInterpolator.Locate(_y, y, Extrapolation);
        int i1 = Math.Min(i + 1, _x.Length - 1), j1 = Math.Min(j + 1, _y.Length - 1);
        double z00 = _z[i][j], z01 = _z[i][j1], z10 = _z[i1][j], z11 = _z[i1][j1];
        double value = ((1 - tx) * (1 - ty) * z00) + ((1 - tx) * ty * z01) + (tx * (1 - ty) * z10) + (tx * ty * z11);
        bool outside = x < _x[0] || x > _x[^1] || y < _y[0] || y > _y[^1];
        return Extrapolation == Extrapolation.Linear && outside ? Math.Max(0, value) : value;
    }

    private static double[] CheckAxis(IReadOnlyList<double> axis, string name)
    {
        if (axis.Count == 0)
        {
            throw new ArgumentException($"The {name} axis needs at least one point.");
        }

        for (int i = 0; i < axis.Count; i++)
        {
            if (!double.IsFinite(axis[i]) || (i > 0 && axis[i] <= axis[i - 1]))
            {
                throw new ArgumentException($"The {name} axis must be finite and strictly increasing (point {i}: {axis[i]}).");
            }
        }

        return [.. axis];
    }
}
