using System.Numerics.Tensors;
using Dynamo.Contracts.Engine;

namespace Dynamo.Engine.Sampling;

/// <summary>
/// Picks the next token from one row of logits: presence and frequency penalties, then greedy, or
/// temperature, top-k and top-p (nucleus) sampling. Reuses its scratch buffers; one per engine loop.
/// </summary>
internal sealed class Sampler
{
    /// <summary>
    /// With top-p alone, tokens whose scaled logit is this far below the maximum (probability ratio e^-30)
    /// are left out before sorting: their total mass is below 1e-8 for any vocabulary here.
    /// </summary>
    private const float NegligibleLogitGap = 30f;

    private readonly float[] _keys;
    private readonly int[] _indices;
    private readonly float[] _probabilities;

    public Sampler(int vocabSize)
    {
        _keys = new float[vocabSize];
        _indices = new int[vocabSize];
        _probabilities = new float[vocabSize];
    }

    public int Sample(Span<float> logits, SamplingState state) => Sample(logits, state, null, out _);

    /// <summary>
    /// Picks the next token; with <paramref name="topLogprobs"/> set, also reports its log-probability and those of the
    /// <paramref name="topLogprobs"/> most likely tokens, of the distribution it was drawn from: the logits after
    /// penalties (and whatever the caller masked), divided by the temperature, restricted to what top-k/top-p kept. A
    /// greedy pick reports the log-softmax of the penalized logits (no temperature, no truncation), as vLLM does.
    /// </summary>
    public int Sample(Span<float> logits, SamplingState state, int? topLogprobs, out TokenLogprobs? logprobs)
    {
        var options = state.Options;
        ApplyPenalties(logits, state.OutputCounts, options);
        logprobs = null;
        if (options.IsGreedy)
        {
            var greedy = TensorPrimitives.IndexOfMax(logits);
            if (topLogprobs is { } greedyTop)
            {
                logprobs = Report(logits, greedy, LogprobMath.LogSumExp(logits, _probabilities), greedyTop, logits.Length);
            }

            return greedy;
        }

        TensorPrimitives.Divide(logits, options.Temperature, logits);
        var max = TensorPrimitives.Max(logits);
        var topK = options.TopK > 0 ? Math.Min(options.TopK, logits.Length) : logits.Length;
        var topP = options.TopP is > 0f and < 1f ? options.TopP : 1f;
        if (topK == logits.Length && topP >= 1f)
        {
            var probabilities = _probabilities.AsSpan(0, logits.Length);
            TensorPrimitives.Subtract(logits, max, probabilities);
            TensorPrimitives.Exp(probabilities, probabilities);
            var sum = TensorPrimitives.Sum(probabilities);
            var drawn = Draw(probabilities, sum, state.NextDouble(), null);
            if (topLogprobs is { } fullTop)
            {
                logprobs = Report(logits, drawn, max + MathF.Log(sum), fullTop, logits.Length);
            }

            return drawn;
        }

        // Candidates in descending order of logit.
        var count = 0;
        var floor = topK == logits.Length ? max - NegligibleLogitGap : float.NegativeInfinity;
        for (var i = 0; i < logits.Length; i++)
        {
            if (logits[i] >= floor)
            {
                _keys[count] = -logits[i];
                _indices[count] = i;
                count++;
            }
        }

        var keys = _keys.AsSpan(0, count);
        var indices = _indices.AsSpan(0, count);
        keys.Sort(indices);
        count = Math.Min(count, topK);
        var candidates = _probabilities.AsSpan(0, count);
        for (var i = 0; i < count; i++)
        {
            candidates[i] = MathF.Exp(-keys[i] - max);
        }

        var total = TensorPrimitives.Sum(candidates);
        if (topP < 1f)
        {
            var cumulative = 0f;
            var keep = 0;
            while (keep < count)
            {
                cumulative += candidates[keep++];
                if (cumulative >= topP * total)
                {
                    break;
                }
            }

            count = keep;
            candidates = candidates[..count];
            total = cumulative;
        }

        // Draw over the kept tokens in vocabulary order, not logit order: two tokens whose logits tie to
        // rounding swap places between batch shapes, and that must not change which one a seed picks.
        _indices.AsSpan(0, count).Sort(candidates);
        var token = Draw(candidates, total, state.NextDouble(), _indices);
        if (topLogprobs is { } top)
        {
            // The kept tokens are the `count` largest logits: the top alternatives are the largest min(top, count).
            logprobs = Report(logits, token, max + MathF.Log(total), top, count);
        }

        return token;
    }

    /// <summary>The chosen token's log-probability under the normalizer <paramref name="logZ"/>, and the top alternatives among the <paramref name="kept"/> largest logits.</summary>
    private static TokenLogprobs Report(ReadOnlySpan<float> logits, int token, float logZ, int top, int kept) =>
        new(logits[token] - logZ, LogprobMath.Top(logits, Math.Min(top, kept), logZ));

    /// <summary>OpenAI's penalties on generated tokens: logit -= count × frequency + (count &gt; 0) × presence.</summary>
    private static void ApplyPenalties(Span<float> logits, Dictionary<int, int> counts, SamplingOptions options)
    {
        if (options.PresencePenalty == 0f && options.FrequencyPenalty == 0f)
        {
            return;
        }

        foreach (var (token, count) in counts)
        {
            logits[token] -= (count * options.FrequencyPenalty) + options.PresencePenalty;
        }
    }

    private static int Draw(ReadOnlySpan<float> weights, float total, double uniform, int[]? indices)
    {
        var target = uniform * total;
        double cumulative = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            cumulative += weights[i];
            if (cumulative > target)
            {
                return indices is null ? i : indices[i];
            }
        }

        // Rounding left the target just past the sum: take the last token with any weight.
        for (var i = weights.Length - 1; i >= 0; i--)
        {
            if (weights[i] > 0)
            {
                return indices is null ? i : indices[i];
            }
        }

        return indices is null ? 0 : indices[0];
    }
}
