using Dynamo.Planner.Profiles;

namespace Dynamo.Planner.Tests;

/// <summary>
/// Profiles with round numbers, so expected worker counts can be worked out by hand:
/// prefill TTFT = 0.1 ms per prompt token, 10,000 prompt tokens/s per GPU at every ISL;
/// decode ITL = 10 ms + 0.2 ms per sequence in the batch (any context).
/// </summary>
internal static class SyntheticProfiles
{
    public static DeploymentProfile Linear(int gpusPerWorker = 1, long kvBlocks = 1_000_000)
    {
        double[] isl = [100, 1000, 10000];
        double[] concurrency = [1, 16, 64, 256];
        double[] context = [100, 1000, 10000];
        return new DeploymentProfile
        {
            Model = "synthetic",
            Hardware = "test",
            Source = ProfileSource.Simulated,
            Prefill = new PrefillProfile(gpusPerWorker, isl, [.. isl.Select(n => 0.1 * n)], [.. isl.Select(_ => 10_000.0 / 1)]),
            Decode = new DecodeProfile(
                gpusPerWorker,
                concurrency,
                context,
                [.. concurrency.Select(c => (IReadOnlyList<double>)[.. context.Select(_ => 10 + (0.2 * c))])],
                [.. concurrency.Select(c => (IReadOnlyList<double>)[.. context.Select(_ => c * 1000 / (10 + (0.2 * c)) / gpusPerWorker)])]),
            Kv = new KvCapacity(16, kvBlocks),
        };
    }
}
