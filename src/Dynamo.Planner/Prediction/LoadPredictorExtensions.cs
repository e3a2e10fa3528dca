namespace Dynamo.Planner.Prediction;

public static class LoadPredictorExtensions
{
    /// <summary>
    /// Warm start: feeds a known series (e.g. a trace's requests per interval) before live observations, so the
    /// first predictions are not made from nothing.
    /// </summary>
    public static void WarmStart(this ILoadPredictor predictor, IEnumerable<double> series)
    {
        ArgumentNullException.ThrowIfNull(predictor);
        ArgumentNullException.ThrowIfNull(series);
        foreach (double value in series)
        {
            predictor.Observe(value);
        }
    }
}
