using Dynamo.Contracts.Engine;
using Dynamo.Engine.Mocker.Profiles;

namespace Dynamo.Engine.Mocker.Tests;

/// <summary>
/// Chunked prefill against roofline figures worked out by hand (Llama-3.1-70B BF16 on 4 H100s, the h100-70b preset's
/// default efficiencies): a long prompt is cut into chunks of the step's token budget, and every step that carries a
/// chunk and decodes at once pays for both.
/// </summary>
public sealed class ChunkedPrefillRooflineTests
{
    // By hand, TP4: weights 141.2 GB / (4 × 3.35 TB/s × 0.8) = 13.1716 ms; + 1.5 ms overhead + 2 × 80 layers × 8 µs
    // all-reduce latency = 15.9516 ms a step. Per token: 2 × 70.6e9 FLOP / (4 × 989.4 TFLOPS × 0.5) = 0.071356 ms, plus the
    // all-reduces, 2 × 80 × 8192 × 2 bytes × 2·3/4 / 450 GB/s = 0.0087381 ms: 0.0800945 ms. Attention per (new, context)
    // pair: 0.5 × 4 × 80 × 64 × 128 / (4 × 989.4 TFLOPS × 0.4) = 8.2797655e-7 ms. KV read per context token:
    // 327,680 bytes / (4 × 3.35 TB/s × 0.8) = 3.05672e-5 ms.
    private const double Base = 15.9516;
    private const double PerToken = 0.08009451;
    private const double Pair = 8.2797655e-7;
    private const double KvRead = 3.05672e-5;

    private static MockerStepper Stepper(int budget)
    {
        PerformanceProfile profile = PerformanceProfiles.Get("h100-70b") with { MaxNumBatchedTokens = budget };
        return new MockerStepper(profile.ToMockerOptions("w"));
    }

    // Each request's tokens start at their own offset: no shared prefix, nothing cached.
    private static EngineRequest Request(string id, int promptTokens, int maxTokens, int first) => new()
    {
        RequestId = id,
        PromptTokens = [.. Enumerable.Range(first, promptTokens)],
        MaxTokens = maxTokens,
        IgnoreEos = true,
    };

    private static MockerStep Step(MockerStepper stepper)
    {
        Assert.True(stepper.TryBeginStep(out MockerStep step));
        stepper.CompleteStep(new List<StepOutput>());
        return step;
    }

    [Fact]
    public void Roofline_TermsAreTheHandComputedOnes()
    {
        PerformanceModel m = PerformanceProfiles.Get("h100-70b").Performance;
        Assert.Equal(Base, m.PrefillBaseMs, tolerance: 1e-4);
        Assert.Equal(Base, m.DecodeBaseMs, tolerance: 1e-4);
        Assert.Equal(PerToken, m.PrefillPerTokenMs, tolerance: 1e-7);
        Assert.Equal(PerToken, m.DecodePerSeqMs, tolerance: 1e-7);
        Assert.Equal(Pair, m.PrefillQuadraticMs, tolerance: 1e-12);
        Assert.Equal(KvRead, m.DecodePerKvTokenMs, tolerance: 1e-10);
    }

    [Fact]
    public void LongPrompt_IsCutIntoBudgetChunks_AndEachChunkStepSlowsTheDecodeItCarries()
    {
        MockerStepper stepper = Stepper(budget: 512);
        stepper.Submit(Request("short", 100, 50, first: 1000));
        MockerStep first = Step(stepper); // 100-token prefill alone
        Assert.Equal(Base + (100 * PerToken) + (100 * 100 * Pair), first.Duration.TotalMilliseconds, tolerance: 0.002);

        stepper.Submit(Request("long", 3000, 2, first: 20000));

        // Decode of "short" (context 101) plus a 511-token chunk of the 3,000-token prompt: one base, both terms.
        MockerStep mixed = Step(stepper);
        Assert.Equal((1, 511, 1), (mixed.PrefillSequences, mixed.PrefillTokens, mixed.DecodeSequences));
        double decodeAlone = Base + PerToken + (101 * KvRead);
        double expected = Base + (511 * PerToken) + (511.0 * 511 * Pair) + PerToken + (101 * KvRead);
        Assert.Equal(expected, mixed.Duration.TotalMilliseconds, tolerance: 0.002);
        Assert.InRange(mixed.Duration.TotalMilliseconds, 3 * decodeAlone, 4 * decodeAlone); // 57.0 ms against 16.0 ms

        // The rest of the prompt: 511 tokens a step beside the decode, chunk k ending at context 511·(k+1).
        int done = 511, steps = 1, context = 102;
        while (done < 3000)
        {
            MockerStep step = Step(stepper);
            int chunk = Math.Min(511, 3000 - done);
            Assert.Equal(chunk, step.PrefillTokens);
            Assert.Equal(1, step.DecodeSequences);
            double ms = Base + (chunk * PerToken) + ((double)chunk * (done + chunk) * Pair) + PerToken + (context * KvRead);
            Assert.Equal(ms, step.Duration.TotalMilliseconds, tolerance: 0.002);
            done += chunk;
            context++;
            steps++;
        }

        Assert.Equal(6, steps); // ⌈3000 / 511⌉ steps shared with the decode, each ≥ 3× a lone decode step
    }

    [Fact]
    public void BigBudget_PrefillsThePromptInOneStep_StallingTheDecodeForAllOfIt()
    {
        MockerStepper stepper = Stepper(budget: 8192);
        stepper.Submit(Request("short", 100, 50, first: 1000));
        Step(stepper);
        stepper.Submit(Request("long", 3000, 2, first: 20000));
        MockerStep mixed = Step(stepper);
        Assert.Equal((3000, 1), (mixed.PrefillTokens, mixed.DecodeSequences));
        double expected = Base + (3000 * PerToken) + (3000.0 * 3000 * Pair) + PerToken + (101 * KvRead);
        Assert.Equal(expected, mixed.Duration.TotalMilliseconds, tolerance: 0.01); // ≈ 264 ms: one inter-token gap of the decode
    }
}
