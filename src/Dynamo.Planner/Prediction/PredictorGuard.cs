namespace Dynamo.Planner.Prediction;

internal static class PredictorGuard
{
    public static void Check(double value)
    {
        if (!double.IsFinite(value) || value < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "A load value must be a finite number >= 0.");
        }
    }
}
