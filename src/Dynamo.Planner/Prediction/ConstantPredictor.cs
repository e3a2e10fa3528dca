namespace Dynamo.Planner.Prediction;

/// <summary>The next interval looks like the last one.</summary>
public sealed class ConstantPredictor : ILoadPredictor
{
    private double _last;

    public string Name => "constant";

    public int Count { get; private set; }

    public void Observe(double value)
    {
        PredictorGuard.Check(value);
        _last = value;
        Count++;
    }

    public double Predict() => PredictAhead(1);

    public double PredictAhead(double intervals) => _last;
}
