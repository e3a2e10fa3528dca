using System.IO.Hashing;
using System.Numerics;
using System.Text;
using Dynamo.Contracts.Engine;

namespace Dynamo.Engine.Mocker;

/// <summary>
/// The mocker's "model": the next token is a pure function of the model name, the whole token context and
/// (when sampling) the seed. So runs compare exactly, preemption changes nothing, and a request re-issued with
/// its prompt plus the tokens generated so far continues exactly as the original would have. The context hash
/// is extended one token at a time.
/// </summary>
internal sealed class TokenGenerator
{
    private const ulong Golden = 0x9E3779B97F4A7C15;
    private const ulong GreedyKey = 0x6A09E667F3BCC909;
    private const ulong EosKey = 0xBB67AE8584CAA73B;

    private readonly int _vocabSize;
    private readonly int[] _eosSorted;
    private readonly double _eosProbability;

    public TokenGenerator(string modelName, int vocabSize, IReadOnlyList<int> eosTokenIds, double eosProbability)
    {
        _vocabSize = vocabSize;
        _eosSorted = [.. eosTokenIds.Order()];
        _eosProbability = eosProbability;
        InitialHash = Mix(XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(modelName)));
    }

    /// <summary>Hash of the empty context.</summary>
    public ulong InitialHash { get; }

    public static ulong Extend(ulong contextHash, int token) => Mix(contextHash ^ Mix((uint)token + Golden));

    public ulong Hash(ReadOnlySpan<int> tokens)
    {
        ulong hash = InitialHash;
        foreach (int token in tokens)
        {
            hash = Extend(hash, token);
        }

        return hash;
    }

    /// <summary>The token after the context hashed to <paramref name="contextHash"/>; greedy when <paramref name="seed"/> is null.</summary>
    public int Next(ulong contextHash, ulong? seed)
    {
        ulong r = Mix(contextHash ^ (seed is ulong s ? Mix(s ^ Golden) : GreedyKey));
        if (_eosProbability > 0)
        {
            double u = (Mix(r ^ EosKey) >> 11) * (1.0 / (1UL << 53));
            if (u < _eosProbability)
            {
                return _eosSorted[(int)(r % (ulong)_eosSorted.Length)];
            }
        }

        // Uniform over the ids that are not EOS: take the rank, then step over each EOS id at or below it.
        int token = (int)(r % (ulong)(_vocabSize - _eosSorted.Length));
        foreach (int eos in _eosSorted)
        {
            if (token >= eos)
            {
                token++;
            }
        }

        return token;
    }

    /// <summary>
    /// The next token under a structured-output constraint: drawn, by the same hash, among the tokens the constraint
    /// allows (half the time among those that do not just extend free string text, so values end soon), and still a
    /// pure function of the context and seed. An end-of-sequence token when the constraint allows nothing.
    /// </summary>
    public int Next(ulong contextHash, ulong? seed, ITokenConstraint constraint, ulong[] scratch)
    {
        ulong r = Mix(contextHash ^ (seed is ulong s ? Mix(s ^ Golden) : GreedyKey) ^ EosKey);
        var mask = scratch.AsSpan(0, (_vocabSize + 63) >> 6);
        if (!(((r >> 1) & 1) == 0 && constraint.FillAllowedExceptFreeText(mask)) && !constraint.FillAllowed(mask))
        {
            return _eosSorted.Length > 0 ? _eosSorted[0] : 0;
        }

        var count = 0;
        foreach (var word in mask)
        {
            count += BitOperations.PopCount(word);
        }

        var target = (int)((r >> 8) % (ulong)count);
        for (var i = 0; i < mask.Length; i++)
        {
            var bits = BitOperations.PopCount(mask[i]);
            if (target < bits)
            {
                var word = mask[i];
                for (var k = 0; k < target; k++)
                {
                    word &= word - 1;
                }

                return (i << 6) + BitOperations.TrailingZeroCount(word);
            }

            target -= bits;
        }

        return _eosSorted.Length > 0 ? _eosSorted[0] : 0;
    }

    /// <summary>
    /// The log-probabilities of <paramref name="token"/> and of the <paramref name="top"/> most likely tokens under the
    /// distribution <see cref="Next(ulong, ulong?)"/> draws from (greedy or seeded alike: the context hash is its random
    /// source): each end-of-sequence id with probability p / E, every other id with (1 − p) / (V − E). Ties list the
    /// lower id first. Honest numbers, if dull ones: the mocker's "model" is flat.
    /// </summary>
    public TokenLogprobs Logprobs(int token, int top)
    {
        var eos = _eosSorted.Length;
        var eosLogprob = eos == 0 || _eosProbability <= 0 ? float.NegativeInfinity : (float)Math.Log(_eosProbability / eos);
        var otherLogprob = (float)Math.Log((eos == 0 ? 1.0 : 1 - _eosProbability) / (_vocabSize - eos));
        var list = new List<TokenLogprob>(Math.Min(top, _vocabSize));
        if (eosLogprob == otherLogprob)
        {
            // One flat distribution over every id.
            for (var id = 0; id < _vocabSize && list.Count < top; id++)
            {
                list.Add(new TokenLogprob(id, otherLogprob));
            }
        }
        else if (eosLogprob > otherLogprob)
        {
            AddEos();
            AddOthers();
        }
        else
        {
            AddOthers();
            AddEos();
        }

        return new TokenLogprobs(IsEos(token) ? eosLogprob : otherLogprob, [.. list]);

        void AddEos()
        {
            for (var e = 0; e < _eosSorted.Length && list.Count < top && !float.IsNegativeInfinity(eosLogprob); e++)
            {
                list.Add(new TokenLogprob(_eosSorted[e], eosLogprob));
            }
        }

        void AddOthers()
        {
            for (var id = 0; id < _vocabSize && list.Count < top; id++)
            {
                if (!IsEos(id))
                {
                    list.Add(new TokenLogprob(id, otherLogprob));
                }
            }
        }
    }

    /// <summary>
    /// The prompt's log-probabilities under the same flat distribution (its "model" scores every position alike): null
    /// for the first token, then <see cref="Logprobs"/> of each next one. The top alternatives are one shared array.
    /// </summary>
    public TokenLogprobs?[] PromptLogprobs(int[] prompt, int top)
    {
        var scores = new TokenLogprobs?[prompt.Length];
        TokenLogprobs? other = null;
        TokenLogprobs? eos = null;
        for (var i = 1; i < prompt.Length; i++)
        {
            scores[i] = IsEos(prompt[i]) ? eos ??= Logprobs(prompt[i], top) : other ??= Logprobs(prompt[i], top);
        }

        return scores;
    }

    /// <summary>Words a scratch mask for <see cref="Next(ulong, ulong?, ITokenConstraint, ulong[])"/> needs.</summary>
    public int MaskWords => (_vocabSize + 63) >> 6;

    public bool IsEos(int token) => Array.BinarySearch(_eosSorted, token) >= 0;

    private static ulong Mix(ulong z)
    {
        // splitmix64's finalizer: a bijection that spreads every input bit over the output.
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
