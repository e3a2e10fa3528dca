using Dynamo.Bench.Workload;

namespace Dynamo.Bench.Tests;

public sealed class WorkloadTests
{
    [Theory]
    [InlineData("128", "fixed")]
    [InlineData("uniform:10:20", "uniform")]
    [InlineData("normal:100:10", "normal")]
    [InlineData("lognormal:100:0.5", "lognormal")]
    public void LengthDistribution_ParsesEachForm(string text, string kind)
    {
        var d = LengthDistribution.Parse(text, "--isl");
        Assert.Equal(kind, d.Kind);
        var random = new Random(1);
        Assert.All(Enumerable.Range(0, 200).Select(_ => d.Sample(random)), n => Assert.True(n >= 1));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("uniform:20:10")]
    [InlineData("gamma:1:2")]
    [InlineData("abc")]
    public void LengthDistribution_BadText_NamesTheFlag(string text)
    {
        var error = Assert.Throws<FormatException>(() => LengthDistribution.Parse(text, "--isl"));
        Assert.Contains("--isl", error.Message);
    }

    [Fact]
    public void Uniform_StaysInRange()
    {
        var d = LengthDistribution.Parse("uniform:10:20", "--isl");
        var random = new Random(3);
        var samples = Enumerable.Range(0, 2000).Select(_ => d.Sample(random)).ToList();
        Assert.Equal(10, samples.Min());
        Assert.Equal(20, samples.Max());
    }

    [Fact]
    public void Poisson_MeanGapIsOneOverRate()
    {
        var requests = WorkloadBuilder.Synthetic(LengthDistribution.Fixed(10), LengthDistribution.Fixed(5), ArrivalProcess.Poisson, rate: 20, count: 4000, seed: 7).ToList();
        double span = requests[^1].Arrival.TotalSeconds;
        Assert.InRange(span / (requests.Count - 1), 0.045, 0.055);
    }

    [Fact]
    public void Constant_GapsAreEqual()
    {
        var requests = WorkloadBuilder.Synthetic(LengthDistribution.Fixed(10), LengthDistribution.Fixed(5), ArrivalProcess.Constant, rate: 4, count: 5, seed: 0).ToList();
        Assert.Equal([0, 0.25, 0.5, 0.75, 1.0], requests.Select(r => r.Arrival.TotalSeconds));
    }

    [Fact]
    public void Synthetic_PromptsShareNoBlocks()
    {
        var requests = WorkloadBuilder.Synthetic(LengthDistribution.Fixed(1024), LengthDistribution.Fixed(5), ArrivalProcess.Poisson, 1, 3, 0).ToList();
        Assert.Empty(requests[0].HashIds.Intersect(requests[1].HashIds));
    }

    [Fact]
    public void Trace_SpeedupDividesTimestamps()
    {
        var trace = new[] { new Traces.TraceRecord(1000, 10, 1, []), new Traces.TraceRecord(3000, 10, 1, []) };
        var requests = WorkloadBuilder.FromTrace(trace, ArrivalProcess.Trace, null, speedup: 2, null, 0).ToList();
        Assert.Equal([0, 1.0], requests.Select(r => r.Arrival.TotalSeconds));
    }
}
