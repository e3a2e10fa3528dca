namespace Dynamo.Planner.Prediction;

/// <summary>
/// A Kalman filter on a local level (random walk) or (damped) local linear trend model:
/// state x = [level, trend], <c>xₜ = F·xₜ₋₁ + w</c> with F = [[1, φ], [0, φ]] (trend, φ the damping) or [[1]] (level),
/// process noise Q = q·I, observation <c>yₜ = level + v</c> with variance r. The prediction h intervals ahead is
/// level + (φ + φ² + … + φʰ)·trend, level + h·trend undamped (φ = 1), the filtered level alone without trend. The
/// ratio q ÷ r sets how fast it follows: small ratios smooth noise, large ones react. Damping keeps a step in the
/// load from being carried on as a lasting trend: after a step the filter's trend is large for a few intervals, and
/// an undamped forecast one start-up time ahead extrapolates it (29 req/s forecast where a 3× step settled at 22.6).
/// The first observation initialises the level with variance r (diffuse trend variance); predictions floored at 0.
/// </summary>
public sealed class KalmanPredictor : ILoadPredictor
{
    private readonly bool _trend;
    private readonly double _damping;
    private double _level;
    private double _slope;
    private double _p00;
    private double _p01;
    private double _p11;

    public KalmanPredictor(double processNoise, double measurementNoise, bool trend, double trendDamping = 1)
    {
        if (!(trendDamping > 0 && trendDamping <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(trendDamping), trendDamping, "trend damping must be in (0, 1].");
        }

        if (!(processNoise > 0 && double.IsFinite(processNoise)))
        {
            throw new ArgumentOutOfRangeException(nameof(processNoise), processNoise, "process noise must be > 0.");
        }

        if (!(measurementNoise > 0 && double.IsFinite(measurementNoise)))
        {
            throw new ArgumentOutOfRangeException(nameof(measurementNoise), measurementNoise, "measurement noise must be > 0.");
        }

        ProcessNoise = processNoise;
        MeasurementNoise = measurementNoise;
        _trend = trend;
        _damping = trendDamping;
    }

    public string Name => "kalman";

    public double ProcessNoise { get; }

    public double MeasurementNoise { get; }

    public bool HasTrend => _trend;

    /// <summary>φ: the share of the trend kept from one interval to the next (1: a linear trend, undamped).</summary>
    public double TrendDamping => _damping;

    public int Count { get; private set; }

    public void Observe(double value)
    {
        PredictorGuard.Check(value);
        if (Count == 0)
        {
            _level = value;
            _slope = 0;
            _p00 = MeasurementNoise;
            _p01 = 0;
            _p11 = _trend ? 1e6 * MeasurementNoise : 0;
            Count++;
            return;
        }

        // Predict: x = F x, P = F P Fᵀ + Q, F = [[1, φ], [0, φ]].
        double phi = _damping;
        double level = _level + (_trend ? phi * _slope : 0);
        double slope = _trend ? phi * _slope : 0;
        double p00, p01, p11;
        if (_trend)
        {
            p00 = _p00 + (2 * phi * _p01) + (phi * phi * _p11) + ProcessNoise;
            p01 = (phi * _p01) + (phi * phi * _p11);
            p11 = (phi * phi * _p11) + ProcessNoise;
        }
        else
        {
            p00 = _p00 + ProcessNoise;
            p01 = 0;
            p11 = 0;
        }

        // Update with H = [1, 0]: innovation y − level, S = P00 + r, K = P Hᵀ / S.
        double innovation = value - level;
        double s = p00 + MeasurementNoise;
        double k0 = p00 / s, k1 = p01 / s;
        _level = level + (k0 * innovation);
        _slope = _trend ? slope + (k1 * innovation) : 0;
        _p00 = (1 - k0) * p00;
        _p01 = (1 - k0) * p01;
        _p11 = p11 - (k1 * p01);
        Count++;
    }

    public double Predict() => PredictAhead(1);

    public double PredictAhead(double intervals) => Count == 0 ? 0 : Math.Max(0, _level + (_trend ? TrendSteps(intervals) * _slope : 0));

    /// <summary>φ + φ² + … + φʰ (h when undamped), for a horizon of any positive length.</summary>
    private double TrendSteps(double intervals) =>
        _damping >= 1 ? intervals : _damping * (1 - Math.Pow(_damping, intervals)) / (1 - _damping);
}
