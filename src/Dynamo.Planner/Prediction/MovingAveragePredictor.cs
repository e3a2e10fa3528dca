namespace Dynamo.Planner.Prediction;

/// <summary>The mean of the last <see cref="Window"/> intervals (fewer until that many are seen).</summary>
public sealed class MovingAveragePredictor : ILoadPredictor
{
    private readonly Queue<double> _values = new();
    private double _sum;

    public MovingAveragePredictor(int window)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        Window = window;
    }

    public string Name => "moving-average";

    public int Window { get; }

    public int Count { get; private set; }

    public void Observe(double value)
    {
        PredictorGuard.Check(value);
        _values.Enqueue(value);
        _sum += value;
        if (_values.Count > Window)
        {
            _sum -= _values.Dequeue();
        }

        Count++;
    }

    // Summed afresh: a running sum drifts with rounding over a day of intervals.
    public double Predict() => PredictAhead(1);

    public double PredictAhead(double intervals) => _values.Count == 0 ? 0 : Math.Max(0, _values.Sum() / _values.Count);
}
