using System.Numerics.Tensors;
using Dynamo.Contracts.Engine;

namespace Dynamo.Engine.Sampling;

/// <summary>
/// The arithmetic behind reported log-probabilities: a numerically stable log-normalizer (log Σ exp) and the most
/// likely tokens of a row of logits found in one pass, without sorting the vocabulary. Only requests that ask for
/// log-probabilities pay for either.
/// </summary>
internal static class LogprobMath
{
    /// <summary>Most alternatives a request may ask for (OpenAI's <c>top_logprobs</c> limit).</summary>
    public const int MaxTop = 20;

    /// <summary>
    /// log Σ exp(<paramref name="logits"/>), computed as max + log Σ exp(x − max) so that nothing overflows; −∞ entries
    /// (masked tokens) add nothing. <paramref name="scratch"/> holds at least as many floats as the row.
    /// </summary>
    public static float LogSumExp(ReadOnlySpan<float> logits, Span<float> scratch)
    {
        var max = TensorPrimitives.Max(logits);
        if (!float.IsFinite(max))
        {
            return max;
        }

        var shifted = scratch[..logits.Length];
        TensorPrimitives.Subtract(logits, max, shifted);
        TensorPrimitives.Exp(shifted, shifted);
        return max + MathF.Log(TensorPrimitives.Sum(shifted));
    }

    /// <summary>
    /// The <paramref name="count"/> largest finite entries of <paramref name="logits"/>, largest first (ties: lower id
    /// first), as log-probabilities under the normalizer <paramref name="logZ"/>. One pass with a small sorted buffer:
    /// O(vocabulary) comparisons, and an insertion only when an entry beats the current k-th.
    /// </summary>
    public static TokenLogprob[] Top(ReadOnlySpan<float> logits, int count, float logZ)
    {
        count = Math.Min(count, logits.Length);
        if (count <= 0)
        {
            return [];
        }

        Span<int> ids = stackalloc int[count];
        Span<float> values = stackalloc float[count];
        var filled = 0;
        var threshold = float.NegativeInfinity;
        for (var i = 0; i < logits.Length; i++)
        {
            var v = logits[i];

            // Not above the current k-th (ties keep the lower id), or masked (−∞), or NaN: not a candidate.
            if (!(v > threshold))
            {
                continue;
            }

            // Insert after every entry at least as large, dropping the last when full.
            var at = filled == count ? count - 1 : filled;
            while (at > 0 && values[at - 1] < v)
            {
                values[at] = values[at - 1];
                ids[at] = ids[at - 1];
                at--;
            }

            values[at] = v;
            ids[at] = i;
            if (filled < count)
            {
                filled++;
            }

            if (filled == count)
            {
                threshold = values[count - 1];
            }
        }

        var top = new TokenLogprob[filled];
        for (var i = 0; i < filled; i++)
        {
            top[i] = new TokenLogprob(ids[i], values[i] - logZ);
        }

        return top;
    }
}
