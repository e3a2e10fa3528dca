using Dynamo.Contracts;
using Dynamo.Planner.Prediction;

namespace Dynamo.Planner.Tests;

public class PlannerOptionsTests
{
    [Fact]
    public void Defaults_AreValidOnceAProfileIsNamed()
    {
        var options = new PlannerOptions { Profile = "configs/profiles/h100-70b/profile.json" };
        Assert.Empty(options.Problems());
        Assert.Equal((TimeSpan.FromSeconds(180), TimeSpan.FromSeconds(5)), (options.ThroughputInterval, options.LoadInterval));
        Assert.Equal([WorkerRole.Prefill, WorkerRole.Decode], options.Roles);
        Assert.IsType<KalmanPredictor>(options.CreatePredictor());
    }

    [Fact]
    public void NoProfile_IsAProblemOnlyWhenOneIsRequired()
    {
        var options = new PlannerOptions();
        Assert.Contains(options.Problems(), p => p.StartsWith("Dynamo:Planner:Profile = '': must name a profile.json", StringComparison.Ordinal));
        Assert.Empty(options.Problems(requireProfile: false));
    }

    [Fact]
    public void BadValues_AreEachNamedWithTheirKeyAndValue()
    {
        var options = new PlannerOptions
        {
            Profile = "p.json",
            Mode = "split",
            Policy = "magic",
            Sla = new PlannerSlaOptions { TtftMs = 0, ItlMs = double.NaN },
            LoadInterval = TimeSpan.FromMinutes(10),
            Prefill = new PoolLimits { Min = 5, Max = 2 },
            GpuBudget = 0,
            Predictor = new PredictorOptions { Kind = "arima", Alpha = 2 },
            LoadLoop = new LoadLoopOptions { KvUsageHigh = 1.5 },
            Correction = new CorrectionOptions { Max = 0.5 },
        };
        string all = string.Join("\n", options.Problems());
        foreach (string expected in new[]
        {
            "Dynamo:Planner:Mode = 'split': expected disagg or agg",
            "Dynamo:Planner:Policy = 'magic': expected sla, threshold or schedule",
            "Dynamo:Planner:Sla:TtftMs = '0'",
            "Dynamo:Planner:Sla:ItlMs = 'NaN'",
            "Dynamo:Planner:LoadInterval = '00:10:00': must not be longer than ThroughputInterval",
            "Dynamo:Planner:Prefill:Max = '2': must be at least Prefill:Min (5)",
            "Dynamo:Planner:GpuBudget = '0'",
            "Dynamo:Planner:Predictor:Kind = 'arima'",
            "Dynamo:Planner:Predictor:Alpha = '2'",
            "Dynamo:Planner:LoadLoop:KvUsageHigh = '1.5'",
            "Dynamo:Planner:Correction:Max = '0.5'",
        })
        {
            Assert.Contains(expected, all);
        }

        Assert.Throws<ArgumentException>(() => options.Validate());
    }

    [Fact]
    public void DecodeMinimumOfZero_IsRefusedInDisaggregatedMode()
    {
        var options = new PlannerOptions { Profile = "p.json", Decode = new PoolLimits { Min = 0 } };
        Assert.Contains(options.Problems(), p => p.Contains("Dynamo:Planner:Decode:Min = '0'", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("constant", typeof(ConstantPredictor))]
    [InlineData("moving-average", typeof(MovingAveragePredictor))]
    [InlineData("holt", typeof(HoltPredictor))]
    [InlineData("kalman-level", typeof(KalmanPredictor))]
    public void Predictor_IsTheOneNamed(string kind, Type type) =>
        Assert.IsType(type, new PlannerOptions { Predictor = new PredictorOptions { Kind = kind } }.CreatePredictor());

    [Fact]
    public void Policy_IsTheOneNamed()
    {
        var profile = SyntheticProfiles.Linear();
        Assert.IsType<SlaPlanner>(ScalingPolicies.Create(new PlannerOptions { Profile = "p" }, profile));
        Assert.IsType<ThresholdAutoscaler>(ScalingPolicies.Create(new PlannerOptions { Profile = "p", Policy = "threshold" }, profile));
    }
}
