namespace Dynamo.Planner.Prediction;

/// <summary>
/// Predicts the next value of a per-interval series (requests per interval, mean ISL, mean OSL) from the values
/// seen so far. Deterministic: the same series gives the same predictions. Not thread-safe.
/// </summary>
public interface ILoadPredictor
{
    /// <summary>The predictor's configured name (<c>constant</c>, <c>moving-average</c>, <c>holt</c>, <c>kalman</c>).</summary>
    string Name { get; }

    /// <summary>Values observed so far.</summary>
    int Count { get; }

    /// <summary>Adds the value of the interval that just ended.</summary>
    void Observe(double value);

    /// <summary>The value expected for the next interval; 0 before any observation. Never negative.</summary>
    double Predict();

    /// <summary>
    /// The value expected <paramref name="intervals"/> intervals ahead (1 = the next one; fractions allowed): the
    /// planner looks past a worker's start-up time. Level predictors give the same value at any horizon, trend
    /// predictors continue the trend. 0 before any observation; never negative.
    /// </summary>
    double PredictAhead(double intervals);
}
