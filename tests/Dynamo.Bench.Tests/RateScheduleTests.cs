using Dynamo.Bench.Traces;
using Dynamo.Bench.Workload;

namespace Dynamo.Bench.Tests;

public sealed class RateScheduleTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(5, 5)]
    [InlineData(10, 10)]
    [InlineData(20, 15)] // 10 s of the trace pass in 5 s at 2x
    [InlineData(30, 20)]
    [InlineData(40, 30)]
    public void Warp_FollowsThePiecewiseMultipliers(double traceS, double replayS)
    {
        var schedule = RateSchedule.Parse("0:1,10:2,20:1");
        Assert.Equal(replayS, schedule.Warp(traceS), 9);
    }

    [Fact]
    public void Apply_ConstantArrivals_RateInEachWindowIsTheMultiple()
    {
        var workload = WorkloadBuilder.Synthetic(LengthDistribution.Fixed(10), LengthDistribution.Fixed(2), ArrivalProcess.Constant, 4, 400, 0);
        var warped = RateSchedule.Parse("0:1,20:3,40:0.5").Apply(workload).ToList();

        int In(double from, double to) => warped.Count(r => r.Arrival.TotalSeconds >= from - 1e-9 && r.Arrival.TotalSeconds < to - 1e-9);
        Assert.Equal(80, In(0, 20));   // 4 req/s
        Assert.Equal(240, In(20, 40)); // 12 req/s
        Assert.Equal(20, In(40, 50));  // 2 req/s
        Assert.Equal(Enumerable.Range(0, 400), warped.Select(r => r.Index));
        Assert.True(warped.Zip(warped.Skip(1)).All(p => p.First.Arrival <= p.Second.Arrival));
    }

    [Fact]
    public void LaterFirstEntry_MeansTheTracesOwnRateBeforeIt()
    {
        var schedule = RateSchedule.Parse("100:2");
        Assert.Equal([(0.0, 1.0), (100.0, 2.0)], schedule.Entries);
        Assert.Equal(150, schedule.Warp(200), 9);
        Assert.Equal(2, schedule.MultiplierAt(120));
    }

    [Theory]
    [InlineData("0:1,5:0", "multiplier 0")]
    [InlineData("0:1,5:-2", "multiplier -2")]
    [InlineData("10:1,5:2", "times must increase")]
    [InlineData("0:1,fast", "'fast'")]
    [InlineData("0:1:2", "'0:1:2'")]
    [InlineData("-5:1", "time -5")]
    public void BadSchedule_IsRefusedNamingTheEntry(string text, string mention)
    {
        var error = Assert.Throws<FormatException>(() => RateSchedule.Parse(text));
        Assert.Contains("--rate-schedule", error.Message);
        Assert.Contains(mention, error.Message);
    }

    [Fact]
    public void File_OneEntryALine_WithComments()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("dynamo-rate-").FullName, "peak.txt");
        File.WriteAllText(path, "# a peak at 3x\n0:1\n600:3   # up\n1200:1\n");
        Assert.Equal([(0.0, 1.0), (600.0, 3.0), (1200.0, 1.0)], RateSchedule.Parse(path).Entries);
        File.WriteAllText(path, "0:1\n600:0\n");
        Assert.Contains(path, Assert.Throws<FormatException>(() => RateSchedule.Parse(path)).Message);
    }

    [Fact]
    public void LengthSchedule_ScalesLengthsByArrival_KeepsLeadingBlocks_AddsOwnOnes()
    {
        // Two Mooncake-like requests sharing their first block, before and after the shift at 10 s.
        var workload = new List<BenchRequest>
        {
            new(0, TimeSpan.FromSeconds(5), 1500, 100, [7, 8, 9]),
            new(1, TimeSpan.FromSeconds(12), 1500, 100, [7, 8, 9]),
            new(2, TimeSpan.FromSeconds(30), 1500, 101, [7, 8, 9]),
        };
        var shifted = LengthSchedule.Parse("10:2:0.5,20:0.3:1").Apply(workload).ToList();

        Assert.Equal((1500, 100), (shifted[0].InputLength, shifted[0].OutputLength));
        Assert.Same(workload[0], shifted[0]);
        Assert.Equal((3000, 50), (shifted[1].InputLength, shifted[1].OutputLength));
        Assert.Equal(6, shifted[1].HashIds.Count); // ceil(3000 / 512)
        Assert.Equal([7L, 8L, 9L], shifted[1].HashIds.Take(3));
        Assert.DoesNotContain(shifted[1].HashIds.Skip(3), id => id is 7 or 8 or 9);
        Assert.Equal((450, 101), (shifted[2].InputLength, shifted[2].OutputLength));
        Assert.Equal([7L], shifted[2].HashIds);
        Assert.Equal(workload.Select(r => r.Arrival), shifted.Select(r => r.Arrival));
    }

    [Theory]
    [InlineData("0:1", "'0:1'")]
    [InlineData("0:1:0", "multipliers 1:0")]
    [InlineData("5:1:1,5:2:2", "times must increase")]
    public void LengthSchedule_Bad_IsRefusedNamingTheEntry(string text, string mention)
    {
        var error = Assert.Throws<FormatException>(() => LengthSchedule.Parse(text));
        Assert.Contains("--length-schedule", error.Message);
        Assert.Contains(mention, error.Message);
    }
}
