using Dynamo.Engine.Mocker.Profiles;

namespace Dynamo.Bench.Tests;

public sealed class ProfileTests
{
    [Fact]
    public void H100_8B_Roofline_IsInTheRangeVllmMeasures()
    {
        var p = PerformanceProfiles.Get("h100-8b");
        double itl = p.Performance.DecodeMs(1, 1000);
        double ttft1k = p.Performance.PrefillMs(1024, 1024);
        Assert.InRange(itl, 5, 12);
        Assert.InRange(ttft1k, 20, 90);
        Assert.Equal(131072, p.KvBytesPerToken);
        Assert.InRange(p.TotalKvBlocks * 16, 300_000, 500_000);
    }

    [Fact]
    public void H200_DecodesFasterThanH100_SameModel()
    {
        var h100 = PerformanceProfiles.Get("h100-70b");
        var h200 = PerformanceProfiles.Get("h200-70b");
        Assert.Equal(4, h100.GpusPerWorker);
        Assert.Equal(2, h200.GpusPerWorker);
        Assert.Equal(327680, h100.KvBytesPerToken);
        Assert.True(h100.Performance.DecodeMs(1, 1000) < 20);
    }

    [Fact]
    public void UnknownProfile_ListsTheKnownOnes()
    {
        var error = Assert.Throws<ArgumentException>(() => PerformanceProfiles.Get("a100-13b"));
        Assert.Contains("h100-8b", error.Message);
    }

    [Fact]
    public void Fit_RecoversTheModelThatMadeTheTable()
    {
        var truth = PerformanceProfiles.Get("h100-8b").Performance;
        var prefill = new[] { 128, 512, 1024, 2048, 4096, 8000 }.Select(n => ((double)n, truth.PrefillMs(n, n))).ToList();
        var decode = new[] { (1, 500), (8, 8000), (32, 64000), (64, 200000), (128, 300000) }.Select(x => ((double)x.Item1, (double)x.Item2, truth.DecodeMs(x.Item1, x.Item2))).ToList();
        var fitted = ProfileFitter.Fit(prefill, decode);
        Assert.Equal(truth.PrefillMs(3000, 3000), fitted.PrefillMs(3000, 3000), 1);
        Assert.Equal(truth.DecodeMs(16, 40000), fitted.DecodeMs(16, 40000), 1);
    }

    [Fact]
    public void FitFile_ReadsTheTableFormat()
    {
        string path = Path.Combine(Path.GetTempPath(), $"profile-{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, "# total_kv_blocks=1000\nkind,tokens,batch,context_tokens,ms\nprefill,100,,,12\nprefill,1000,,,30\nprefill,2000,,,52\ndecode,,1,100,10\ndecode,,8,8000,14\ndecode,,16,20000,19\n");
        var profile = PerformanceProfiles.Get("fit:" + path);
        Assert.Equal(1000, profile.TotalKvBlocks);
        Assert.InRange(profile.Performance.PrefillMs(1000, 1000), 25, 35);
    }
}

public sealed class ProfileTableTests
{
    [Fact]
    public void Table_FromBenchResults_FitsBack()
    {
        var truth = PerformanceProfiles.Get("mocker-default").Performance;
        var results = new List<Dynamo.Bench.Metrics.RequestResult>();
        int i = 0;
        foreach (int isl in new[] { 100, 400, 800, 1600, 3000 })
        {
            double ttft = truth.PrefillMs(isl, isl);
            double itl = truth.DecodeMs(1, isl + 10);
            results.Add(new() { Index = i, StartS = i * 100, InputTokens = isl, OutputTokens = 20, CachedTokens = 0, TtftMs = ttft, ItlMs = itl, E2eMs = ttft + (19 * itl) });
            i++;
        }

        string path = Path.Combine(Path.GetTempPath(), $"table-{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, Dynamo.Bench.Reports.ProfileTable.Build(results));
        var fitted = PerformanceProfiles.Get("fit:" + path).Performance;
        Assert.Equal(truth.PrefillMs(2000, 2000), fitted.PrefillMs(2000, 2000), 0);
    }
}
