using Dynamo.Contracts.Engine;
using Dynamo.Engine.Compute;
using Dynamo.Engine.Sampling;

namespace Dynamo.Engine.Tests;

public sealed class SamplerTests
{
    private static readonly float[] Logits = [0f, 5f, 4.9f, 1f, -3f, 4.8f, 2f, 0.5f];

    [Fact]
    public void Greedy_PicksLargestLogit()
    {
        var sampler = new Sampler(Logits.Length);

        Assert.Equal(1, sampler.Sample(Logits.ToArray(), new SamplingState(new SamplingOptions { Temperature = 0 })));
    }

    [Fact]
    public void TopK_OnlyEverPicksTheKLargest()
    {
        var sampler = new Sampler(Logits.Length);
        var state = new SamplingState(new SamplingOptions { Temperature = 5f, TopK = 3, Seed = 1 });

        var seen = Enumerable.Range(0, 500).Select(_ => sampler.Sample(Logits.ToArray(), state)).ToHashSet();

        Assert.Equal(new[] { 1, 2, 5 }, seen.Order());
    }

    [Fact]
    public void TopP_KeepsTheSmallestSetReachingP()
    {
        var sampler = new Sampler(Logits.Length);
        var state = new SamplingState(new SamplingOptions { Temperature = 1f, TopP = 0.5f, Seed = 2 });

        var seen = Enumerable.Range(0, 500).Select(_ => sampler.Sample(Logits.ToArray(), state)).ToHashSet();

        // Softmax mass: token 1 ≈ 0.36, token 2 ≈ 0.33: the first two reach 0.5.
        Assert.Equal(new[] { 1, 2 }, seen.Order());
    }

    [Fact]
    public void Temperature_SamplesInProportionToSoftmax()
    {
        var sampler = new Sampler(2);
        var state = new SamplingState(new SamplingOptions { Temperature = 1f, Seed = 3 });
        var logits = new[] { 0f, MathF.Log(3f) };

        var ones = Enumerable.Range(0, 4000).Count(_ => sampler.Sample(logits.ToArray(), state) == 1);

        Assert.InRange(ones / 4000.0, 0.72, 0.78);
    }

    [Fact]
    public void FrequencyAndPresencePenalties_LowerRepeatedTokens()
    {
        var sampler = new Sampler(Logits.Length);
        var state = new SamplingState(new SamplingOptions { Temperature = 0, FrequencyPenalty = 0.06f, PresencePenalty = 0.05f });
        state.Record(1);

        // 5 - 0.06 - 0.05 = 4.89 < 4.9: token 2 wins. Then token 1 three times (4.77) and token 2 once (4.79): token 5 (4.8).
        Assert.Equal(2, sampler.Sample(Logits.ToArray(), state));
        state.Record(2);
        state.Record(1);
        state.Record(1);
        Assert.Equal(5, sampler.Sample(Logits.ToArray(), state));
    }

    [Fact]
    public void SameSeed_SameTokens()
    {
        var sampler = new Sampler(Logits.Length);
        var a = new SamplingState(new SamplingOptions { Temperature = 2f, Seed = 42 });
        var b = new SamplingState(new SamplingOptions { Temperature = 2f, Seed = 42 });

        Assert.Equal(
            Enumerable.Range(0, 50).Select(_ => sampler.Sample(Logits.ToArray(), a)),
            Enumerable.Range(0, 50).Select(_ => sampler.Sample(Logits.ToArray(), b)));
    }

    [Theory]
    [InlineData(1, 50257, 64)]
    [InlineData(3, 37, 19)]
    [InlineData(9, 130, 768)]
    public void Backends_MatMulTransposed_AgreeWithNaiveProduct(int m, int n, int k)
    {
        var random = new Random(m + n + k);
        var a = Enumerable.Range(0, m * k).Select(_ => random.NextSingle() - 0.5f).ToArray();
        var b = Enumerable.Range(0, n * k).Select(_ => random.NextSingle() - 0.5f).ToArray();
        var initial = Enumerable.Range(0, m * n).Select(_ => random.NextSingle()).ToArray();
        using var managed = new ManagedComputeBackend(2);
        using var blas = ForwardTests.CreateBackend("openblas");

        foreach (var backend in new IComputeBackend[] { managed, blas })
        {
            var c = initial.ToArray();
            backend.MatMulTransposed(a, b, c, m, n, k, accumulate: true);
            for (var i = 0; i < m; i++)
            {
                for (var j = 0; j < n; j += 7)
                {
                    double expected = initial[(i * n) + j];
                    for (var p = 0; p < k; p++)
                    {
                        expected += (double)a[(i * k) + p] * b[(j * k) + p];
                    }

                    Assert.True(Math.Abs(expected - c[(i * n) + j]) < 1e-4, $"{backend.Name} c[{i},{j}] = {c[(i * n) + j]}, expected {expected}");
                }
            }
        }
    }
}
