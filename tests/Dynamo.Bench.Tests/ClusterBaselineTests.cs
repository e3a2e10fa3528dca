using System.Text.Json.Nodes;
using Dynamo.Bench.Replay;
using Dynamo.Bench.Workload;
using Dynamo.Engine.Mocker.Profiles;

namespace Dynamo.Bench.Tests;

/// <summary>The replay's load-balance figures: <c>cluster_lru_hit_rate</c> and <c>worker_busy_max_over_mean</c>.</summary>
public sealed class ClusterBaselineTests
{
    [Fact]
    public void ClusterLru_HandComputed_PrefixHitsOnly_LeastRecentlyUsedEvicted()
    {
        var lru = new ClusterLruBaseline(capacityBlocks: 3);

        Assert.Null(lru.HitRate);
        Assert.Equal(0, lru.Add([1, 2], 1024)); // cold
        Assert.Equal(1024, lru.Add([1, 2, 3], 1300)); // blocks 1 and 2 cached; cache now 1, 2, 3 (1 the oldest)
        Assert.Equal(0, lru.Add([9, 2, 3], 1536)); // 2 and 3 are cached but the prefix misses at 9; 1 is evicted for 9
        Assert.Equal(0, lru.Add([1, 2], 1000)); // 1 was evicted: no prefix
        Assert.Equal(600, lru.Add([1, 2], 600)); // a hit is at most the prompt (a partial last block)

        Assert.Equal((1024.0 + 600) / (1024 + 1300 + 1536 + 1000 + 600), lru.HitRate!.Value, 12);
    }

    [Fact]
    public void ClusterLru_Capacity_IsEveryWorkersBlocksIn512TokenBlocks()
    {
        Assert.Equal(16 * 803, ClusterLruBaseline.Capacity(16, 25_700, 16)); // h100-8b: 25,700 × 16 ÷ 512 = 803.1, per worker
        Assert.Equal(0, ClusterLruBaseline.Capacity(2, 31, 16)); // less than one 512-token block a worker holds none

        var none = new ClusterLruBaseline(0);
        none.Add([1], 512);
        Assert.Equal(0, none.Add([1], 512));
    }

    private static WorkerReport Worker(string id, double busyS) => new(id, "aggregated", 1, 1, 0, 1, 0, 0, 0, 1, 0) { BusyS = busyS };

    [Fact]
    public void BusyMaxOverMean_HandComputed()
    {
        Assert.Equal(2.0, ReplayRun.BusyMaxOverMean([Worker("a", 1), Worker("b", 1), Worker("c", 4)])); // mean 2, max 4
        Assert.Equal(1.0, ReplayRun.BusyMaxOverMean([Worker("a", 3), Worker("b", 3)])); // even
        Assert.Equal(4.0, ReplayRun.BusyMaxOverMean([Worker("a", 8), Worker("b", 0), Worker("c", 0), Worker("d", 0)])); // all on one of four
        Assert.Equal(1.0, ReplayRun.BusyMaxOverMean([Worker("only", 0.5)]));
        Assert.Null(ReplayRun.BusyMaxOverMean([]));
        Assert.Null(ReplayRun.BusyMaxOverMean([Worker("idle", 0), Worker("idle2", 0)]));
    }

    [Fact]
    public async Task Replay_ReportsBoth_InTheRunAndTheJson()
    {
        var profile = PerformanceProfiles.Get("h100-8b") with { TotalKvBlocks = 96, MaxContextLength = 1536 }; // 3 blocks of 512 tokens a worker
        var options = new ReplayOptions { Workers = 2, Router = "round-robin", Profile = profile, Seed = 1 };
        // Six requests on a 1,024-token shared prefix with private tails, then two that share nothing.
        var workload = Enumerable.Range(0, 8).Select(i => new BenchRequest(
            i, TimeSpan.FromSeconds(i * 0.5), i < 6 ? 1500 : 512, 4, i < 6 ? [1, 2, 100 + i] : [200 + i])).ToList();
        var expected = new ClusterLruBaseline(6);
        foreach (BenchRequest r in workload)
        {
            expected.Add(r.HashIds, r.InputLength);
        }

        var (outcome, run) = await ReplayRunner.RunAsync(options, workload, workload.Count, console: null, outDir: null, jsonPath: null, plots: false);

        Assert.Equal(expected.HitRate, run.ClusterLruHitRate);
        Assert.Equal(5 * 1024.0 / ((6 * 1500) + (2 * 512)), run.ClusterLruHitRate!.Value, 12); // by hand: requests 1-5 hit the 2 shared blocks
        double[] busy = [.. run.Workers.Select(w => w.BusyS)];
        Assert.Equal(2, busy.Length);
        Assert.All(busy, b => Assert.True(b > 0));
        Assert.Equal(busy.Max() / busy.Average(), run.WorkerBusyMaxOverMean!.Value, 12);
        Assert.Equal(run.ClusterLruHitRate, (double?)outcome.Json["cluster_lru_hit_rate"]);
        Assert.Equal(run.WorkerBusyMaxOverMean, (double?)outcome.Json["worker_busy_max_over_mean"]);
        Assert.All(outcome.Json["per_worker"]!.AsArray(), w => Assert.True((double)w!["busy_s"]! > 0));
    }
}
