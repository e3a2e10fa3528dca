using Dynamo.Planner.Prediction;

namespace Dynamo.Planner.Tests;

public class PredictorTests
{
    private static readonly Func<ILoadPredictor>[] All =
    [
        () => new ConstantPredictor(),
        () => new MovingAveragePredictor(4),
        () => new HoltPredictor(0.5, 0.3),
        () => new KalmanPredictor(1, 1, trend: true),
        () => new KalmanPredictor(1, 1, trend: false),
    ];

    [Fact]
    public void NothingObserved_PredictsZero()
    {
        foreach (var make in All)
        {
            Assert.Equal(0, make().Predict());
        }
    }

    [Fact]
    public void ConstantSeries_EveryPredictorPredictsTheConstant()
    {
        foreach (var make in All)
        {
            ILoadPredictor p = make();
            p.WarmStart(Enumerable.Repeat(42.0, 30));
            Assert.Equal(30, p.Count);
            Assert.Equal(42, p.Predict(), 6);
            Assert.Equal(42, p.PredictAhead(3), 6);
        }
    }

    [Fact]
    public void MovingAverage_IsTheMeanOfTheLastWindow()
    {
        var p = new MovingAveragePredictor(3);
        p.WarmStart([1, 2]);
        Assert.Equal(1.5, p.Predict()); // fewer than the window so far
        p.WarmStart([3, 4, 5]);
        Assert.Equal(4, p.Predict());
    }

    [Fact]
    public void Constant_IsTheLastValue()
    {
        var p = new ConstantPredictor();
        p.WarmStart([5, 9, 3]);
        Assert.Equal(3, p.Predict());
    }

    [Fact]
    public void LinearRamp_HoltFollowsItExactly()
    {
        // On a perfect ramp Holt's level and trend stay exact from the second point: ℓ = y, b = slope.
        var p = new HoltPredictor(0.5, 0.3);
        p.WarmStart(Enumerable.Range(0, 10).Select(i => 100 + (10.0 * i))); // 100 … 190
        Assert.Equal(200, p.Predict(), 9);
        Assert.Equal(225, p.PredictAhead(3.5), 9);
    }

    [Fact]
    public void LinearRamp_KalmanTrendConvergesAndLevelLags()
    {
        double[] ramp = [.. Enumerable.Range(0, 40).Select(i => 100 + (10.0 * i))]; // … 490, next 500
        var trend = new KalmanPredictor(1, 1, trend: true);
        trend.WarmStart(ramp);
        Assert.Equal(500, trend.Predict(), 1);

        var level = new KalmanPredictor(1, 1, trend: false);
        level.WarmStart(ramp);
        // Local level, q = r: steady gain K = (√5 − 1)/2 ≈ 0.618, so the level trails a ramp of slope 10 by
        // 10·(1 − K)/K ≈ 6.18 and predicts ≈ 483.8 for the next value 500.
        Assert.Equal(490 - (10 * (1 - 0.6180339887) / 0.6180339887), level.Predict(), 1);
    }

    [Fact]
    public void DampedKalman_AfterAStep_ForecastsNearTheNewLevel_WhereTheUndampedOneCarriesTheTrendOn()
    {
        // 10 intervals at 10, then a step to 30 that holds for 2: the trend filter reads the jump as a slope.
        double[] step = [.. Enumerable.Repeat(10.0, 10), 30, 30];
        var undamped = new KalmanPredictor(1, 1, trend: true);
        var damped = new KalmanPredictor(1, 1, trend: true, trendDamping: 0.5);
        undamped.WarmStart(step);
        damped.WarmStart(step);

        // φ = 1 is the linear trend (the default, unchanged): far ahead it keeps climbing.
        Assert.True(undamped.PredictAhead(10) > undamped.PredictAhead(2) + 10, $"undamped: {undamped.PredictAhead(2):F1} then {undamped.PredictAhead(10):F1}");

        // φ = 0.5: the trend's contribution is bounded by φ/(1 − φ) = 1 times the trend, however far ahead.
        Assert.InRange(damped.PredictAhead(10) - damped.PredictAhead(1), 0, 10);
        Assert.True(damped.PredictAhead(1.33) < undamped.PredictAhead(1.33), $"damped {damped.PredictAhead(1.33):F1}, undamped {undamped.PredictAhead(1.33):F1}");
        Assert.InRange(damped.PredictAhead(1.33), 25, 45);
    }

    [Fact]
    public void DampedKalman_OnAFlatSeries_IsTheUndampedFilter_AndBadDampingIsRefused()
    {
        double[] flat = [.. Enumerable.Repeat(20.0, 30)];
        var damped = new KalmanPredictor(1, 1, trend: true, trendDamping: 0.7);
        damped.WarmStart(flat);
        Assert.Equal(20, damped.PredictAhead(3), 6);

        Assert.Throws<ArgumentOutOfRangeException>(() => new KalmanPredictor(1, 1, trend: true, trendDamping: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KalmanPredictor(1, 1, trend: true, trendDamping: 1.5));
        var options = new PlannerOptions { Profile = "p.json", Predictor = new PredictorOptions { TrendDamping = 1.2 } };
        Assert.Contains(options.Problems(requireProfile: false), p => p.StartsWith("Dynamo:Planner:Predictor:TrendDamping = '1.2'", StringComparison.Ordinal));
    }

    [Fact]
    public void Kalman_FirstUpdate_MatchesTheFilterByHand()
    {
        // Level model, q = 1, r = 1: after y₀ = 0, P = 1; predict P = 2; K = 2/3; level = 0 + 2/3 · 10.
        var p = new KalmanPredictor(1, 1, trend: false);
        p.WarmStart([0, 10]);
        Assert.Equal(20.0 / 3, p.Predict(), 9);
    }

    [Fact]
    public void Step_ConstantJumpsAtOnce_MovingAverageAfterItsWindow_KalmanConverges()
    {
        double[] step = [.. Enumerable.Repeat(10.0, 20), .. Enumerable.Repeat(50.0, 1)];
        var constant = new ConstantPredictor();
        var average = new MovingAveragePredictor(4);
        var kalman = new KalmanPredictor(1, 1, trend: false);
        foreach (ILoadPredictor p in new ILoadPredictor[] { constant, average, kalman })
        {
            p.WarmStart(step);
        }

        Assert.Equal(50, constant.Predict());
        Assert.Equal(20, average.Predict()); // (10 + 10 + 10 + 50) / 4
        Assert.Equal(10 + (40 * 0.6180339887), kalman.Predict(), 3); // steady gain ≈ 0.618

        foreach (ILoadPredictor p in new ILoadPredictor[] { average, kalman })
        {
            p.WarmStart(Enumerable.Repeat(50.0, 20));
            Assert.Equal(50, p.Predict(), 3);
        }
    }

    [Fact]
    public void Noisy_SmoothersBeatTheLastValue()
    {
        var random = new Random(7);
        double[] series = [.. Enumerable.Range(0, 400).Select(_ => 100 + (20 * (random.NextDouble() - 0.5)))];
        double Rmse(ILoadPredictor p)
        {
            double sum = 0;
            int n = 0;
            foreach (double y in series)
            {
                if (p.Count >= 10)
                {
                    sum += (p.Predict() - y) * (p.Predict() - y);
                    n++;
                }

                p.Observe(y);
            }

            return Math.Sqrt(sum / n);
        }

        double last = Rmse(new ConstantPredictor());
        double average = Rmse(new MovingAveragePredictor(10));
        double kalman = Rmse(new KalmanPredictor(0.01, 1, trend: false));
        // Uniform noise of width 20 has σ ≈ 5.77: the last value errs by ≈ σ√2, a good smoother by ≈ σ.
        Assert.InRange(last, 7.5, 8.8);
        Assert.InRange(average, 5.5, 6.5);
        Assert.InRange(kalman, 5.5, 6.5);
    }

    [Fact]
    public void FallingToZero_NeverPredictsBelowZero()
    {
        var holt = new HoltPredictor(0.9, 0.9);
        holt.WarmStart([100, 60, 20, 0]);
        Assert.Equal(0, holt.Predict());
        Assert.Equal(0, holt.PredictAhead(5));
    }

    [Fact]
    public void BadValue_IsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConstantPredictor().Observe(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HoltPredictor(0.5, 0.5).Observe(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HoltPredictor(0, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MovingAveragePredictor(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KalmanPredictor(0, 1, trend: true));
    }

    [Fact]
    public void IntervalLoad_FromArrivals_CountsEachIntervalAndItsMeanLengths()
    {
        var arrivals = new (TimeSpan, int, int)[]
        {
            (TimeSpan.FromSeconds(1), 100, 10), (TimeSpan.FromSeconds(5), 300, 30), (TimeSpan.FromSeconds(25), 50, 5),
        };
        IReadOnlyList<IntervalLoad> intervals = IntervalLoad.FromArrivals(arrivals, TimeSpan.FromSeconds(10));
        Assert.Equal([new IntervalLoad(2, 200, 20), new IntervalLoad(0, 0, 0), new IntervalLoad(1, 50, 5)], intervals);
    }
}
