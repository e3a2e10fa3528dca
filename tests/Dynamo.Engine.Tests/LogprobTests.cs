using Dynamo.Contracts.Engine;
using Dynamo.Engine.Sampling;
using static Dynamo.Engine.Tests.EngineHarness;

namespace Dynamo.Engine.Tests;

/// <summary>Reported log-probabilities: the arithmetic against a plain reference, the sampler's semantics, and the engine end to end.</summary>
public sealed class LogprobTests
{
    /// <summary>log-softmax the obvious way, in double.</summary>
    private static double[] ReferenceLogSoftmax(float[] logits)
    {
        var max = logits.Where(float.IsFinite).Max();
        var logZ = max + Math.Log(logits.Sum(l => float.IsNegativeInfinity(l) ? 0 : Math.Exp(l - max)));
        return [.. logits.Select(l => l - logZ)];
    }

    private static float[] RandomLogits(int vocab, int seed, float scale = 8f)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, vocab).Select(_ => (float)((random.NextDouble() - 0.5) * 2 * scale))];
    }

    [Theory]
    [InlineData(8, 3)]
    [InlineData(32_000, 20)]
    [InlineData(151_936, 5)]
    public void LogSumExpAndTop_MatchSortedReference(int vocab, int k)
    {
        var logits = RandomLogits(vocab, vocab);
        logits[vocab / 2] = 1000f; // would overflow a naive exp
        var reference = ReferenceLogSoftmax(logits);

        var logZ = LogprobMath.LogSumExp(logits, new float[vocab]);
        var top = LogprobMath.Top(logits, k, logZ);

        var expected = reference.Select((lp, id) => (lp, id)).OrderByDescending(t => t.lp).ThenBy(t => t.id).Take(k).ToArray();
        Assert.Equal(expected.Select(e => e.id), top.Select(t => t.TokenId));
        for (var i = 0; i < k; i++)
        {
            Assert.Equal(expected[i].lp, top[i].Logprob, 1e-3);
        }
    }

    [Fact]
    public void Top_SkipsMaskedTokens_AndBreaksTiesByLowerId()
    {
        float[] logits = [1f, float.NegativeInfinity, 2f, 2f, float.NegativeInfinity];

        var top = LogprobMath.Top(logits, 5, 0f);

        Assert.Equal(new[] { 2, 3, 0 }, top.Select(t => t.TokenId));
        Assert.Equal(new[] { 2f, 2f, 1f }, top.Select(t => t.Logprob));
    }

    [Fact]
    public void Greedy_ReportsTheMaxOfTheLogSoftmax()
    {
        var logits = RandomLogits(1000, 7);
        var reference = ReferenceLogSoftmax(logits);
        var sampler = new Sampler(logits.Length);

        var token = sampler.Sample(logits.ToArray(), new SamplingState(new SamplingOptions { Temperature = 0 }), 4, out var logprobs);

        Assert.NotNull(logprobs);
        Assert.Equal(reference.Max(), logprobs.Logprob, 1e-4);
        Assert.Equal(token, logprobs.Top[0].TokenId);
        Assert.Equal(4, logprobs.Top.Length);
    }

    [Fact]
    public void Sampled_ReportsTheTemperatureScaledDistribution_AndTheDrawnTokenOutsideTheTop()
    {
        // A flat-ish distribution at a high temperature: most draws fall outside the top 1.
        var logits = RandomLogits(500, 3, scale: 1f);
        var sampler = new Sampler(logits.Length);
        var state = new SamplingState(new SamplingOptions { Temperature = 1.5f, Seed = 11 });
        var reference = ReferenceLogSoftmax([.. logits.Select(l => l / 1.5f)]);
        var outside = 0;
        for (var i = 0; i < 50; i++)
        {
            var token = sampler.Sample(logits.ToArray(), state, 1, out var logprobs);
            Assert.Equal(reference[token], logprobs!.Logprob, 1e-3);
            Assert.Single(logprobs.Top);
            outside += logprobs.Top[0].TokenId != token ? 1 : 0;
        }

        Assert.True(outside > 25, $"only {outside} of 50 draws fell outside the top 1");
    }

    [Fact]
    public void TopKAndTopP_ReportTheTruncatedDistribution()
    {
        float[] logits = [0f, 5f, 4.9f, 1f, -3f, 4.8f, 2f, 0.5f];
        var sampler = new Sampler(logits.Length);
        var state = new SamplingState(new SamplingOptions { Temperature = 1f, TopK = 3, Seed = 5 });

        var token = sampler.Sample(logits.ToArray(), state, 5, out var logprobs);

        // Only tokens 1, 2 and 5 can be drawn: their log-probabilities renormalized over the three, nothing else listed.
        var z = Math.Log(Math.Exp(5) + Math.Exp(4.9) + Math.Exp(4.8));
        Assert.Equal(new[] { 1, 2, 5 }, logprobs!.Top.Select(t => t.TokenId));
        Assert.Equal(5 - z, logprobs.Top[0].Logprob, 1e-4);
        Assert.Equal(logits[token] - z, logprobs.Logprob, 1e-4);
        Assert.Equal(1.0, logprobs.Top.Sum(t => Math.Exp(t.Logprob)), 1e-4);
    }

    [Fact]
    public void Penalties_ShapeTheReportedDistribution()
    {
        float[] logits = [3f, 2.9f, 0f];
        var sampler = new Sampler(logits.Length);
        var state = new SamplingState(new SamplingOptions { Temperature = 0, PresencePenalty = 2f });
        state.Record(0);

        var token = sampler.Sample(logits.ToArray(), state, 1, out var logprobs);

        Assert.Equal(1, token);
        Assert.Equal(ReferenceLogSoftmax([1f, 2.9f, 0f])[1], logprobs!.Logprob, 1e-4);
    }

    [Fact]
    public async Task Engine_Greedy_ReportsEachTokensLogprob_AsTheTopOfItsDistribution()
    {
        await using var engine = await Start();
        var plain = await Collect(engine, Greedy(Prompt(20, 1), 8));
        var logged = await Collect(engine, Greedy(Prompt(20, 1), 8) with { Logprobs = 3 });

        Assert.All(plain, o => Assert.Null(o.Logprobs));
        Assert.Equal(plain.Select(o => o.TokenId), logged.Select(o => o.TokenId));
        foreach (var output in logged)
        {
            var lp = output.Logprobs!;
            Assert.Equal(3, lp.Top.Length);
            Assert.Equal(output.TokenId, lp.Top[0].TokenId);
            Assert.Equal(lp.Top[0].Logprob, lp.Logprob);
            Assert.True(lp.Logprob <= 0 && lp.Top[1].Logprob <= lp.Top[0].Logprob && lp.Top[2].Logprob <= lp.Top[1].Logprob);
        }
    }

    [Fact]
    public async Task Engine_Sampled_ReportsTheDrawnTokenEvenOutsideTheTop()
    {
        await using var engine = await Start();
        var request = Greedy(Prompt(12, 2), 30) with { Logprobs = 0, Sampling = new SamplingOptions { Temperature = 2f, Seed = 3 }, IgnoreEos = true };

        var outputs = await Collect(engine, request);

        Assert.Equal(30, outputs.Count);
        Assert.All(outputs, o => Assert.True(o.Logprobs is { Top.Length: 0 } lp && lp.Logprob < 0 && float.IsFinite(lp.Logprob)));
    }
    [Fact]
    public async Task Engine_PromptLogprobs_EqualTheModelsLogSoftmaxAtEachPosition_AcrossChunks()
    {
        // Chunks of 7 tokens: the prompt's 23 positions are scored over four prefill steps.
        await using var engine = await Start(o => o.MaxNumBatchedTokens = 7);
        var prompt = Prompt(23, 5);
        var request = Greedy(prompt, 3) with { PromptLogprobs = 4, Sampling = new SamplingOptions { Temperature = 1.5f, PresencePenalty = 1f, Seed = 1 } };

        var outputs = await Collect(engine, request);

        var scores = outputs[0].PromptLogprobs!;
        Assert.All(outputs.Skip(1), o => Assert.Null(o.PromptLogprobs));
        Assert.Equal(prompt.Length, scores.Length);
        Assert.Null(scores[0]);
        var reference = new ReferenceLlama(await TestModels.Tiny());
        for (var i = 1; i < prompt.Length; i++)
        {
            // Raw scores: the log-softmax of the logits after prompt[..i], whatever the request's sampling settings.
            var expected = ReferenceLogSoftmax([.. reference.LastLogits(prompt[..i]).Select(l => (float)l)]);
            var score = scores[i]!;
            Assert.Equal(expected[prompt[i]], score.Logprob, 2e-3);
            var best = expected.Select((lp, id) => (lp, id)).OrderByDescending(t => t.lp).Take(4).ToArray();
            Assert.Equal(4, score.Top.Length);
            for (var k = 0; k < 4; k++)
            {
                Assert.Equal(best[k].lp, score.Top[k].Logprob, 2e-3);
            }
        }
    }

    [Fact]
    public async Task Engine_PromptLogprobs_AreNotChangedByACachedPrefix_AndComputeThePromptWhole()
    {
        await using var engine = await Start();
        var prompt = Prompt(40, 9);
        var first = await Collect(engine, Greedy(prompt, 2) with { PromptLogprobs = 2 });

        // The same prompt again: its blocks are cached now, yet a request scoring the prompt computes it whole.
        var warm = await Collect(engine, Greedy(prompt, 2));
        var second = await Collect(engine, Greedy(prompt, 2) with { PromptLogprobs = 2 });

        Assert.True(warm[0].CachedTokens > 0, "the plain request should reuse the cached prefix");
        Assert.Equal(0, second[0].CachedTokens);
        Assert.Equal(first.Select(o => o.TokenId), second.Select(o => o.TokenId));
        var a = first[0].PromptLogprobs!;
        var b = second[0].PromptLogprobs!;
        Assert.Equal(a.Length, b.Length);
        for (var i = 1; i < a.Length; i++)
        {
            Assert.Equal(a[i]!.Logprob, b[i]!.Logprob, 1e-4);
            Assert.Equal(a[i]!.Top.Select(t => t.TokenId), b[i]!.Top.Select(t => t.TokenId));
        }
    }
}
