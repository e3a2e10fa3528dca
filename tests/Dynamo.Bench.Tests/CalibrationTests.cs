using Dynamo.Bench.Replay;
using Dynamo.Engine.Mocker.Profiles;
using Xunit.Abstractions;

namespace Dynamo.Bench.Tests;

/// <summary>
/// The roofline against published offline throughput (TensorRT-LLM's perf-overview tables: FP8 ModelOpt checkpoints,
/// every request queued at once, total output tokens/s). bench/README.md "Calibration" tabulates model ÷ published.
/// </summary>
public sealed class CalibrationTests(ITestOutputHelper output)
{
    public static TheoryData<string, int, int, int, int, double> Published => new()
    {
        // model, tp, isl, osl, requests, published output tok/s (H100 SXM)
        { "8b", 1, 2048, 128, 3000, 3450 },
        { "8b", 1, 5000, 500, 1500, 3459 },
        { "8b", 1, 1000, 1000, 3000, 15220 },
        { "70b", 2, 2048, 128, 1500, 762 },
        { "70b", 2, 5000, 500, 1000, 898 },
        { "70b", 2, 1000, 1000, 1500, 4205 },
    };

    [Theory]
    [MemberData(nameof(Published))]
    public async Task OfflineThroughput_AgainstTensorRtLlm(string model, int tp, int isl, int osl, int requests, double published)
    {
        ModelSpec spec = (model == "8b" ? ModelSpec.Llama8B : ModelSpec.Llama70B).Fp8(kvDtypeBytes: 1);
        double Run(RooflineEfficiency e)
        {
            PerformanceProfile profile = RooflineProfile.Build(HardwareSpec.H100, spec, tp, e) with { MaxNumSeqs = 2048 };
            var options = new ReplayOptions { Mode = "agg", Workers = 1, Router = "round-robin", Profile = profile };
            var (workload, count) = Load.BenchRunner.BuildWorkload(null, isl.ToString(), osl.ToString(), null, 1e6, 1, requests, 0);
            ReplayRun run = new ClusterSimulator(options).RunAsync(workload, expected: count).GetAwaiter().GetResult();
            return run.Results.Sum(r => (double)r.OutputTokens) / run.EndS;
        }

        double preset = await Task.Run(() => Run(new RooflineEfficiency()));
        double fitted = await Task.Run(() => Run(RooflineEfficiency.TensorRtLlm));
        output.WriteLine($"{model} TP{tp} {isl}/{osl}: published {published}, default {preset:0} ({preset / published:0.00}), fitted {fitted:0} ({fitted / published:0.00})");
        Assert.InRange(fitted / published, 0.8, 1.25);
    }
}
