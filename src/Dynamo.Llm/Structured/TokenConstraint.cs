using System.Numerics;
using Dynamo.Contracts.Engine;

namespace Dynamo.Llm.Structured;

/// <summary>
/// One sequence's structured-output state: the live matcher threads after the bytes produced so far, and the token
/// mask for the next step, computed by walking the vocabulary trie (<see cref="TokenVocabulary"/>) with the threads
/// and pruning at the first byte no thread takes. Made by <see cref="StructuredOutput.CreateConstraint"/>.
/// </summary>
public sealed class TokenConstraint : ITokenConstraint
{
    /// <summary>Threads kept at most; more only arise from pathological anyOf nests, and dropping some narrows the output without ever letting invalid output through.</summary>
    internal const int MaxThreads = 64;

    private readonly TokenVocabulary _vocabulary;
    private readonly int[] _eosTokenIds;
    private readonly List<Frame>[] _levels;
    private List<Frame> _threads;
    private bool _ended;

    internal TokenConstraint(TokenVocabulary vocabulary, GrammarNode root, IReadOnlyList<int> eosTokenIds)
    {
        _vocabulary = vocabulary;
        _eosTokenIds = [.. eosTokenIds];
        _threads = [new Frame(new SequenceNode([root]), null, 0, 0, a: 0)];
        _levels = new List<Frame>[vocabulary.MaxTokenBytes + 2];
        for (var i = 0; i < _levels.Length; i++)
        {
            _levels[i] = [];
        }
    }

    /// <inheritdoc/>
    public int VocabSize => _vocabulary.VocabSize;

    /// <inheritdoc/>
    public bool IsComplete => _ended || _threads.TrueForAll(JsonMatcher.IsExhausted);

    /// <summary>Whether the output may end here (the end-of-sequence tokens are allowed).</summary>
    public bool CanEnd => _ended || _threads.Exists(JsonMatcher.CanEnd);

    /// <inheritdoc/>
    public bool FillAllowed(Span<ulong> allowed)
    {
        allowed.Clear();
        if (IsComplete)
        {
            return false;
        }

        var any = false;
        if (CanEnd)
        {
            foreach (var eos in _eosTokenIds)
            {
                if ((uint)eos < (uint)VocabSize && (eos >> 6) < allowed.Length)
                {
                    allowed[eos >> 6] |= 1UL << eos;
                    any = true;
                }
            }
        }

        // Inside free text: every plain token that fits comes from a precomputed set, and plain subtrees are skipped.
        var fast = _threads.Count == 1 && JsonMatcher.InPlainText(_threads[0], out var remaining) ? remaining : -1;
        if (fast >= 0)
        {
            var plain = _vocabulary.PlainUpTo(fast);
            var words = Math.Min(plain.Length, allowed.Length);
            for (var i = 0; i < words; i++)
            {
                allowed[i] |= plain[i];
                any |= plain[i] != 0;
            }
        }

        any |= Walk(0, _threads, 0, fast >= 0, allowed);
        return any;
    }

    /// <inheritdoc/>
    public bool FillAllowedExceptFreeText(Span<ulong> allowed)
    {
        if (!FillAllowed(allowed))
        {
            return false;
        }

        if (_threads.Count != 1 || !JsonMatcher.InPlainText(_threads[0], out _))
        {
            return true;
        }

        var plain = _vocabulary.PlainUpTo(int.MaxValue);
        var any = false;
        for (var i = 0; i < Math.Min(plain.Length, allowed.Length); i++)
        {
            allowed[i] &= ~plain[i];
            any |= allowed[i] != 0;
        }

        return any;
    }

    /// <inheritdoc/>
    public bool TryAccept(int token)
    {
        if (_ended || (uint)token >= (uint)VocabSize)
        {
            return false;
        }

        var bytes = _vocabulary.TokenBytes[token];
        if (bytes.Length == 0)
        {
            if (Array.IndexOf(_eosTokenIds, token) >= 0 && CanEnd)
            {
                _ended = true;
                return true;
            }

            return false;
        }

        var current = _threads;
        foreach (var b in bytes)
        {
            var next = new List<Frame>(current.Count);
            foreach (var thread in current)
            {
                JsonMatcher.Step(thread, b, next);
                if (next.Count >= MaxThreads)
                {
                    break;
                }
            }

            if (next.Count == 0)
            {
                return false;
            }

            current = next;
        }

        _threads = current;
        return true;
    }

    /// <summary>Marks the tokens below <paramref name="node"/> that some thread survives; true when any was marked.</summary>
    private bool Walk(int node, List<Frame> threads, int depth, bool fast, Span<ulong> allowed)
    {
        var v = _vocabulary;
        var any = false;
        var next = _levels[depth + 1];
        for (var child = v.FirstChild[node]; child >= 0; child = v.NextSibling[child])
        {
            if (fast && v.SubtreePlain[child])
            {
                // Every token below is plain text: those that fit are already in the mask, the rest never fit.
                continue;
            }

            next.Clear();
            var b = v.Label[child];
            foreach (var thread in threads)
            {
                JsonMatcher.Step(thread, b, next);
                if (next.Count >= MaxThreads)
                {
                    break;
                }
            }

            if (next.Count == 0)
            {
                continue;
            }

            if (v.TokenAt[child] is var token and >= 0)
            {
                allowed[token >> 6] |= 1UL << token;
                any = true;
                if (v.MoreTokensAt.Count > 0 && v.MoreTokensAt.TryGetValue(child, out var more))
                {
                    foreach (var id in more)
                    {
                        allowed[id >> 6] |= 1UL << id;
                    }
                }
            }

            if (v.FirstChild[child] >= 0)
            {
                any |= Walk(child, next, depth + 1, fast, allowed);
            }
        }

        return any;
    }

    /// <summary>Number of allowed tokens in a mask (diagnostics and tests).</summary>
    public static int Count(ReadOnlySpan<ulong> allowed)
    {
        var count = 0;
        foreach (var word in allowed)
        {
            count += BitOperations.PopCount(word);
        }

        return count;
    }
}
