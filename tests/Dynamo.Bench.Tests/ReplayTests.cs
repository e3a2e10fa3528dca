using Dynamo.Bench.Metrics;
using Dynamo.Bench.Replay;
using Dynamo.Bench.Workload;
using Dynamo.Engine.Mocker.Profiles;

namespace Dynamo.Bench.Tests;

public sealed class ReplayTests
{
    /// <summary>Requests in groups of four sharing a 2,048-token prefix, then a private tail.</summary>
    private static List<BenchRequest> SharedPrefixWorkload(int count, double rate)
    {
        var list = new List<BenchRequest>();
        for (int i = 0; i < count; i++)
        {
            long group = i % 8;
            long[] ids = [group * 1000, (group * 1000) + 1, (group * 1000) + 2, (group * 1000) + 3, 100_000 + i];
            list.Add(new BenchRequest(i, TimeSpan.FromSeconds(i / rate), 2048 + 300, 20, ids));
        }

        return list;
    }

    private static ReplayOptions Agg(string router, int workers = 4) => new()
    {
        Workers = workers,
        Router = router,
        Profile = PerformanceProfiles.Get("h100-8b"),
        Seed = 1,
    };

    [Fact]
    public void Options_BusyFlags_AreValidated_AndRefusedWithTheBlockCost()
    {
        var profile = PerformanceProfiles.Get("h100-8b", 1);
        Assert.Null(new ReplayOptions { Workers = 2, Profile = profile, BusyCostTokens = 0, BusyFloor = 0.2 }.FirstError());
        Assert.Contains("--busy-cost-tokens must be 0", new ReplayOptions { Workers = 2, Profile = profile, BusyCostTokens = -1 }.FirstError());
        Assert.Contains("--busy-floor must be a fraction", new ReplayOptions { Workers = 2, Profile = profile, BusyFloor = 1 }.FirstError());
        Assert.Contains("apply to the predicted cost only", new ReplayOptions { Workers = 2, Profile = profile, KvCost = "blocks", BusyCostTokens = 4096 }.FirstError());
    }

    [Fact]
    public async Task Replay_SameSeed_GivesIdenticalResults()
    {
        var workload = SharedPrefixWorkload(60, rate: 20);
        var first = await new ClusterSimulator(Agg("random")).RunAsync(workload);
        var second = await new ClusterSimulator(Agg("random")).RunAsync(workload);
        Assert.Equal(60, first.Results.Count);
        Assert.Equal(first.Results.Select(r => (r.TtftMs, r.E2eMs, r.Worker)), second.Results.Select(r => (r.TtftMs, r.E2eMs, r.Worker)));
    }

    [Fact]
    public async Task Replay_TimesEveryRouterDecision_AndSortsThemByPromptLength()
    {
        // Prompts of 2,348 tokens (the first range) and 9,000 (the second); one decision per request.
        var workload = SharedPrefixWorkload(30, rate: 20);
        workload.AddRange(Enumerable.Range(30, 10).Select(i => new BenchRequest(i, TimeSpan.FromSeconds(2 + (i / 20.0)), 9000, 5, [500_000 + i])));
        var run = await new ClusterSimulator(Agg("kv")).RunAsync(workload);

        Assert.Equal(40, run.RouterDecisionUs.Count);
        Assert.Equal(["<=4096", "4097-16384", "16385-65536", ">65536"], run.RouterDecisionUsByPrompt.Select(b => b.PromptTokens));
        Assert.Equal([30L, 10L, 0L, 0L], run.RouterDecisionUsByPrompt.Select(b => b.DecisionUs.Count));
        Assert.All(run.RouterDecisionUsByPrompt.Take(2), b => Assert.True(b.DecisionUs.P50 > 0));
    }

    [Fact]
    public async Task Replay_EveryRequestCompletesWithItsOutputLength()
    {
        var run = await new ClusterSimulator(Agg("round-robin")).RunAsync(SharedPrefixWorkload(40, rate: 50));
        Assert.All(run.Results, r =>
        {
            Assert.True(r.Succeeded);
            Assert.Equal(20, r.OutputTokens);
            Assert.True(r.TtftMs > 0);
        });
        Assert.Equal(40, run.Workers.Sum(w => w.Requests));
    }

    [Fact]
    public async Task Oracle_HitRateIsAtLeastAnyRouters()
    {
        var workload = SharedPrefixWorkload(80, rate: 10);
        var roundRobin = MetricsAggregator.Summarize((await new ClusterSimulator(Agg("round-robin")).RunAsync(workload)).Results);
        var oracle = MetricsAggregator.Summarize((await new ClusterSimulator(Agg("oracle")).RunAsync(workload)).Results);

        // 8 groups: each group's first request misses its 2,048-token prefix, the rest hit it.
        Assert.InRange(oracle.KvHitRate!.Value, 0.8 * 72 * 2048 / (80.0 * 2348), 1.0);
        Assert.True(oracle.KvHitRate >= roundRobin.KvHitRate, $"oracle {oracle.KvHitRate} < round-robin {roundRobin.KvHitRate}");
    }

    [Fact]
    public async Task Disagg_LongPromptsPrefillRemotely_AndStillProduceEveryToken()
    {
        var options = new ReplayOptions
        {
            Mode = "disagg",
            PrefillWorkers = 2,
            DecodeWorkers = 2,
            Router = "least-loaded",
            Profile = PerformanceProfiles.Get("h100-70b"),
            Seed = 3,
        };
        var workload = WorkloadBuilder.Synthetic(LengthDistribution.Fixed(3000), LengthDistribution.Fixed(150), ArrivalProcess.Poisson, 4, 40, 3).ToList();
        var run = await new ClusterSimulator(options).RunAsync(workload);
        Assert.Equal(1.0, run.RemotePrefillFraction);
        Assert.All(run.Results, r => Assert.Equal(150, r.OutputTokens));
        Assert.All(run.Workers.Where(w => w.Role == "prefill"), w => Assert.True(w.Requests > 0));
        Assert.Equal(16, options.Gpus);
    }

    [Fact]
    public async Task Aggregated_PrefillStallsDecode_ItlRisesWithLongPrompts()
    {
        static List<BenchRequest> Mix(int isl) => WorkloadBuilder.Synthetic(LengthDistribution.Fixed(isl), LengthDistribution.Fixed(100), ArrivalProcess.Constant, 8, 80, 0).ToList();
        var shortPrompts = MetricsAggregator.Summarize((await new ClusterSimulator(Agg("round-robin", 1)).RunAsync(Mix(100))).Results);
        var longPrompts = MetricsAggregator.Summarize((await new ClusterSimulator(Agg("round-robin", 1)).RunAsync(Mix(6000))).Results);
        Assert.True(longPrompts.ItlMs.Mean > shortPrompts.ItlMs.Mean * 1.2, $"ITL {longPrompts.ItlMs.Mean} vs {shortPrompts.ItlMs.Mean}");
    }

    [Fact]
    public async Task PromptLongerThanContext_IsRejectedNotLost()
    {
        var workload = new List<BenchRequest> { new(0, TimeSpan.Zero, 200_000, 5, []) };
        var run = await new ClusterSimulator(Agg("least-loaded", 1)).RunAsync(workload);
        Assert.Equal(ErrorKinds.Rejected, Assert.Single(run.Results).Error);
    }
}
