namespace Dynamo.Planner;

/// <summary>The load predictor (<c>Dynamo:Planner:Predictor</c>).</summary>
public sealed class PredictorOptions
{
    /// <summary><c>constant</c>, <c>moving-average</c>, <c>holt</c>, <c>kalman</c> (local linear trend, default) or <c>kalman-level</c> (local level).</summary>
    public string Kind { get; set; } = "kalman";

    /// <summary>moving-average: intervals averaged. Default 5.</summary>
    public int Window { get; set; } = 5;

    /// <summary>holt: level smoothing α. Default 0.5.</summary>
    public double Alpha { get; set; } = 0.5;

    /// <summary>holt: trend smoothing β. Default 0.3.</summary>
    public double Beta { get; set; } = 0.3;

    /// <summary>kalman: process noise variance q, relative to <see cref="MeasurementNoise"/>. Default 1.</summary>
    public double ProcessNoise { get; set; } = 1;

    /// <summary>kalman: measurement noise variance r; q ÷ r sets how fast the filter follows. Default 1.</summary>
    public double MeasurementNoise { get; set; } = 1;

    /// <summary>
    /// kalman: the share φ of the trend kept from one interval to the next, in (0, 1]. A forecast h intervals ahead
    /// adds φ + … + φʰ times the trend, so a load step is not extrapolated as a lasting trend. Default 1 (undamped).
    /// </summary>
    public double TrendDamping { get; set; } = 1;
}
