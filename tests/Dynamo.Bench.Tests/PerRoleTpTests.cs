using Dynamo.Bench.Replay;
using Dynamo.Bench.Sweep;
using Dynamo.Contracts;
using Dynamo.Engine.Mocker.Profiles;

namespace Dynamo.Bench.Tests;

/// <summary>A tensor-parallel degree per role: KV capacity, step time, GPU count, refusals, and the sweep's splits.</summary>
public sealed class PerRoleTpTests
{
    [Fact]
    public void Tp2_And_Tp4_Of_70bFp8_HaveTheHandComputedKvCapacityAndStepTimes()
    {
        PerformanceProfile tp2 = PerformanceProfiles.Get("h100-70b-fp8");
        PerformanceProfile tp4 = PerformanceProfiles.Get("h100-70b-fp8", 4);
        Assert.Equal((2, 4), (tp2.GpusPerWorker, tp4.GpusPerWorker));
        Assert.Equal("h100-70b-fp8-tp4", tp4.Name);

        // KV: (t × 80 GB × 0.9 − 70.6 GB of FP8 weights − t × 2 GB) / (327,680 B a token (BF16 KV) × 16):
        // TP2 69.4 GB → 13,236 blocks; TP4 209.4 GB → 39,939 blocks (rounded down).
        Assert.Equal(13_236, tp2.TotalKvBlocks);
        Assert.Equal(39_939, tp4.TotalKvBlocks);

        // Decode base: 70.6 GB / (t × 3.35 TB/s × 0.8) + 1.5 ms + 160 × 8 µs: TP2 15.952 ms, TP4 9.366 ms.
        Assert.Equal(15.952, tp2.Performance.DecodeBaseMs, 2);
        Assert.Equal(9.366, tp4.Performance.DecodeBaseMs, 2);

        // Prefill per token at the FP8 peak: 2 × 70.6e9 / (t × 1,979 TFLOPS × 0.5) plus all-reduces
        // (2 × 80 × 8192 × 2 B × 2(t−1)/t / 450 GB/s): TP2 0.071349 + 0.005825 ms; TP4 0.035675 + 0.008738 ms.
        Assert.Equal(0.077174, tp2.Performance.PrefillPerTokenMs, 5);
        Assert.Equal(0.044413, tp4.Performance.PrefillPerTokenMs, 5);
    }

    [Fact]
    public void ADegreeTheWeightsDoNotFit_IsRefused_NamingTheFix()
    {
        var error = Assert.Throws<ArgumentException>(() => PerformanceProfiles.Get("h100-70b", 2));
        Assert.Contains("TP2", error.Message);
        Assert.Contains("at least 4", error.Message);
        var odd = Assert.Throws<ArgumentException>(() => PerformanceProfiles.Get("h100-70b", 3));
        Assert.Contains("must divide the 64 attention heads", odd.Message);
        var fitted = Assert.Throws<ArgumentException>(() => PerformanceProfiles.Get("mocker-default", 2));
        Assert.Contains("roofline presets", fitted.Message);
    }

    [Fact]
    public void Replay_CountsGpusPerRole_AndRefusesAPrefillProfileInAggMode()
    {
        var decode = PerformanceProfiles.Get("h100-70b-fp8", 4);
        var prefill = PerformanceProfiles.Get("h100-70b-fp8", 2);
        var disagg = new ReplayOptions { Mode = "disagg", PrefillWorkers = 2, DecodeWorkers = 1, Profile = decode, PrefillProfile = prefill };
        Assert.Null(disagg.FirstError());
        Assert.Equal(8, disagg.Gpus);
        Assert.Same(prefill, disagg.ProfileOf(WorkerRole.Prefill));
        Assert.Same(decode, disagg.ProfileOf(WorkerRole.Decode));

        var agg = new ReplayOptions { Mode = "agg", Workers = 2, Profile = decode, PrefillProfile = prefill };
        Assert.Contains("disagg mode only", agg.FirstError());
    }

    [Fact]
    public async Task Replay_RunsPrefillAndDecodePoolsOfDifferentDegrees()
    {
        var options = new ReplayOptions
        {
            Mode = "disagg", PrefillWorkers = 2, DecodeWorkers = 1, Router = "least-loaded",
            Profile = PerformanceProfiles.Get("h100-70b-fp8", 4), PrefillProfile = PerformanceProfiles.Get("h100-70b-fp8", 2),
        };
        var (workload, count) = Load.BenchRunner.BuildWorkload(null, "3000", "20", null, 2, 1, 20, 0);
        ReplayRun run = await new ClusterSimulator(options).RunAsync(workload, expected: count);
        Assert.Equal(20, run.Results.Count(r => r.Error is null));
        Assert.Equal(2, run.Workers.Count(w => w.Role == "prefill"));
        Assert.Equal(8 * run.EndS / 3600, run.GpuHours, 6);
    }

    [Fact]
    public void Sweep_EnumeratesPerRoleSplitsWithinTheBudget_AndTheChunkBudget()
    {
        var config = new SweepConfig
        {
            Profile = "h100-70b-fp8", GpuBudgets = [8], Rates = [1], Workload = new SweepWorkload { Isl = "3000", Osl = "150" },
            Grid = new SweepGrid { Mode = ["agg", "disagg"], Tp = [2, 4], PrefillTp = [2], DecodeTp = [2, 4], MaxNumBatchedTokens = [2048, 8192] },
        };
        Assert.Null(config.FirstError());
        var points = SweepRunner.Expand(config, PerformanceProfiles.Get(config.Profile));

        // agg: TP2 ×4, TP4 ×2. disagg P TP2 / D TP2: 1:3, 2:2, 3:1; P TP2 / D TP4: 1:1 (6 GPUs), 2:1 — each at two budgets.
        Assert.Equal(2 * (2 + 3 + 2), points.Count);
        Assert.Contains(points, p => p is { Mode: "disagg", PrefillWorkers: 2, PrefillTp: 2, DecodeWorkers: 1, DecodeTp: 4, Gpus: 8, MaxNumBatchedTokens: 2048 });
        Assert.Contains(points, p => p is { Mode: "disagg", PrefillWorkers: 1, DecodeWorkers: 1, DecodeTp: 4, Gpus: 6 });
        Assert.Contains(points, p => p is { Mode: "agg", Workers: 4, Tp: 2, Gpus: 8 });
        Assert.Equal("g8-disagg-p2tp2d1tp4-kv-s1-m2048-n256-b2048-r1", points.Single(p => p is { PrefillWorkers: 2, DecodeTp: 4, MaxNumBatchedTokens: 2048 }).Id);

        config.Grid.DecodeTp = [1];
        Assert.Contains("grid.decode_tp 1", config.FirstError());
        Assert.Contains("at least 2", config.FirstError());
    }
}
