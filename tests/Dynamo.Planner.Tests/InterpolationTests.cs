using Dynamo.Planner.Profiles;

namespace Dynamo.Planner.Tests;

public class InterpolationTests
{
    [Fact]
    public void Linear_OnALine_IsExactInsideAndExtrapolatesAlongIt()
    {
        double[] x = [0, 10, 25, 100];
        var line = new LinearInterpolator(x, [.. x.Select(v => 3 + (2 * v))], Extrapolation.Linear);
        foreach (double v in new[] { 0, 1.5, 10, 17.25, 99.9, 100 })
        {
            Assert.Equal(3 + (2 * v), line.Evaluate(v), 9);
        }

        Assert.Equal(3 + (2 * 150.0), line.Evaluate(150), 9); // past the last point: the last segment continued
        Assert.Equal(0, line.Evaluate(-10)); // 3 − 20 < 0: a latency is never negative
    }

    [Fact]
    public void Clamp_OutsideTheGrid_TakesTheEdgeValues()
    {
        var clamped = new LinearInterpolator([1, 2, 4], [10, 20, 5], Extrapolation.Clamp);
        Assert.Equal(10, clamped.Evaluate(-100));
        Assert.Equal(5, clamped.Evaluate(1e9));
        Assert.Equal(12.5, clamped.Evaluate(3)); // halfway from 20 to 5
    }

    [Fact]
    public void Linear_OnAQuadratic_StaysWithinTheInterpolationErrorBound()
    {
        // |f − p| ≤ h²/8 · max|f''|; for f = x², f'' = 2, so h²/4, reached at each segment's midpoint.
        const double h = 0.5;
        double[] x = [.. Enumerable.Range(0, 21).Select(i => i * h)];
        var quadratic = new LinearInterpolator(x, [.. x.Select(v => v * v)], Extrapolation.Clamp);
        double worst = 0;
        for (double v = 0; v <= 10; v += 0.01)
        {
            worst = Math.Max(worst, Math.Abs(quadratic.Evaluate(v) - (v * v)));
        }

        Assert.InRange(worst, 0.99 * h * h / 4, (h * h / 4) + 1e-12);
    }

    [Fact]
    public void SinglePoint_IsAConstant()
    {
        var one = new LinearInterpolator([5], [7], Extrapolation.Linear);
        Assert.Equal(7, one.Evaluate(-3));
        Assert.Equal(7, one.Evaluate(500));
    }

    [Theory]
    [InlineData(new double[] { 1, 1 }, new double[] { 1, 2 })]
    [InlineData(new double[] { 2, 1 }, new double[] { 1, 2 })]
    [InlineData(new double[] { 1, 2 }, new double[] { 1 })]
    [InlineData(new double[] { }, new double[] { })]
    [InlineData(new double[] { 1, double.NaN }, new double[] { 1, 2 })]
    public void BadGrid_IsRefused(double[] x, double[] y) =>
        Assert.Throws<ArgumentException>(() => new LinearInterpolator(x, y, Extrapolation.Clamp));

    [Fact]
    public void Bilinear_OnAPlaneAndABilinearSurface_IsExact()
    {
        double[] x = [1, 2, 4, 8, 16];
        double[] y = [100, 300, 1000];
        static double Surface(double a, double b) => 5 + (0.5 * a) + (0.01 * b) + (0.002 * a * b);
        var grid = new BilinearInterpolator(x, y, [.. x.Select(a => (IReadOnlyList<double>)[.. y.Select(b => Surface(a, b))])], Extrapolation.Linear);
        var random = new Random(1);
        for (int i = 0; i < 200; i++)
        {
            double a = 1 + (random.NextDouble() * 15), b = 100 + (random.NextDouble() * 900);
            Assert.Equal(Surface(a, b), grid.Evaluate(a, b), 9);
        }

        Assert.Equal(Surface(32, 2000), grid.Evaluate(32, 2000), 9); // extrapolated on both axes along the edge cell
    }

    [Fact]
    public void Bilinear_OnAQuadraticSurface_StaysWithinTheErrorBound()
    {
        // f = x² + y²: the error of bilinear interpolation is at most hx²/4 + hy²/4 (each axis' linear error).
        const double hx = 1, hy = 2;
        double[] x = [.. Enumerable.Range(0, 11).Select(i => i * hx)];
        double[] y = [.. Enumerable.Range(0, 11).Select(i => i * hy)];
        var grid = new BilinearInterpolator(x, y, [.. x.Select(a => (IReadOnlyList<double>)[.. y.Select(b => (a * a) + (b * b))])], Extrapolation.Clamp);
        double worst = 0;
        var random = new Random(2);
        for (int i = 0; i < 5000; i++)
        {
            double a = random.NextDouble() * 10, b = random.NextDouble() * 20;
            worst = Math.Max(worst, Math.Abs(grid.Evaluate(a, b) - ((a * a) + (b * b))));
        }

        double bound = (hx * hx / 4) + (hy * hy / 4);
        Assert.InRange(worst, 0.5 * bound, bound + 1e-12);
        Assert.Equal(1.25, grid.Evaluate(0.5, 1) - ((0.5 * 0.5) + 1), 9); // at a cell's centre the error is the bound
    }

    [Fact]
    public void Bilinear_Clamp_TakesTheEdgeOfTheGrid()
    {
        var grid = new BilinearInterpolator([1, 2], [10, 20], [[1, 2], [3, 4]], Extrapolation.Clamp);
        Assert.Equal(1, grid.Evaluate(0, 0));
        Assert.Equal(4, grid.Evaluate(9, 99));
        Assert.Equal(2.5, grid.Evaluate(1.5, 15));
    }

    [Fact]
    public void Bilinear_RowOfTheWrongLength_IsRefused() =>
        Assert.Throws<ArgumentException>(() => new BilinearInterpolator([1, 2], [10, 20], [[1, 2], [3]], Extrapolation.Clamp));
}
