namespace Dynamo.Planner.Prediction;

/// <summary>
/// Holt's linear trend (double exponential smoothing): level ℓ and trend b,
/// <c>ℓₜ = α·yₜ + (1−α)(ℓₜ₋₁ + bₜ₋₁)</c>, <c>bₜ = β(ℓₜ − ℓₜ₋₁) + (1−β)bₜ₋₁</c>, prediction h intervals ahead <c>ℓₜ + h·bₜ</c>.
/// Initialised with ℓ = y₀, b = y₁ − y₀ (b = 0 until a second value). Follows a ramp without lag once the trend is
/// learned; predictions are floored at 0.
/// </summary>
public sealed class HoltPredictor : ILoadPredictor
{
    private double _level;
    private double _trend;

    public HoltPredictor(double alpha, double beta)
    {
        if (!(alpha > 0 && alpha <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be in (0, 1].");
        }

        if (!(beta >= 0 && beta <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(beta), beta, "beta must be in [0, 1].");
        }

        Alpha = alpha;
        Beta = beta;
    }

    public string Name => "holt";

    public double Alpha { get; }

    public double Beta { get; }

    public int Count { get; private set; }

    public double Level => _level;

    public double Trend => _trend;

    public void Observe(double value)
    {
        PredictorGuard.Check(value);
        if (Count == 0)
        {
            _level = value;
        }
        else if (Count == 1)
        {
            _trend = value - _level;
            _level = value;
        }
        else
        {
            double previous = _level;
            _level = (Alpha * value) + ((1 - Alpha) * (_level + _trend));
            _trend = (Beta * (_level - previous)) + ((1 - Beta) * _trend);
        }

        Count++;
    }

    public double Predict() => PredictAhead(1);

    public double PredictAhead(double intervals) => Count == 0 ? 0 : Math.Max(0, _level + (intervals * _trend));
}
