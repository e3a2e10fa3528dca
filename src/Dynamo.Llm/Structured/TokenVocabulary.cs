using System.Runtime.CompilerServices;
using Dynamo.Llm.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Structured;

/// <summary>
/// A tokenizer's vocabulary arranged for token masks: a trie over every normal token's bytes (special tokens are left
/// out: their text is not output), so that a mask walks shared prefixes once and drops a whole subtree at the first
/// byte the grammar refuses. Plain string text (most of the vocabulary) is not walked at all: each token's count of
/// characters as free string text is precomputed, with the tokens that fit in 0..<see cref="CachedLengths"/>
/// characters as ready bitsets, and subtrees made only of such tokens are skipped. Built once per tokenizer.
/// </summary>
internal sealed class TokenVocabulary
{
    /// <summary>Bitsets of plain tokens are kept for remaining string lengths up to this; longer ones use the unbounded set.</summary>
    public const int CachedLengths = 48;

    private static readonly ConditionalWeakTable<Tokenizer, TokenVocabulary> s_cache = new();

    private TokenVocabulary(int vocabSize)
    {
        VocabSize = vocabSize;
    }

    public int VocabSize { get; }

    /// <summary>Words of a bitset over the vocabulary.</summary>
    public int Words => (VocabSize + 63) >> 6;

    /// <summary>Each token's bytes (empty for special or unknown ids).</summary>
    public byte[][] TokenBytes { get; private set; } = [];

    /// <summary>
    /// Characters the token adds as free string text from a character boundary (a partial UTF-8 sequence at its end
    /// counts one); -1 when it holds a quote, a backslash, a control byte or malformed UTF-8.
    /// </summary>
    public int[] PlainChars { get; private set; } = [];

    // Trie: node 0 is the root; children as first-child / next-sibling lists.
    public int[] FirstChild { get; private set; } = [];

    public int[] NextSibling { get; private set; } = [];

    public byte[] Label { get; private set; } = [];

    /// <summary>The token that ends at each node, or -1.</summary>
    public int[] TokenAt { get; private set; } = [];

    /// <summary>Whether every token in the node's subtree is plain string text.</summary>
    public bool[] SubtreePlain { get; private set; } = [];

    /// <summary>Longest token in bytes (bounds the depth of a walk).</summary>
    public int MaxTokenBytes { get; private set; }

    /// <summary>Plain tokens of at most i characters (index <see cref="CachedLengths"/>+1: any length).</summary>
    private ulong[][] _plainUpTo = [];

    public static TokenVocabulary? For(Tokenizer tokenizer, int vocabSize)
    {
        if (s_cache.TryGetValue(tokenizer, out var cached) && cached.VocabSize == vocabSize)
        {
            return cached;
        }

        var table = TokenByteTable.For(tokenizer);
        if (table is null)
        {
            return null;
        }

        var built = Build(table, vocabSize);
        s_cache.AddOrUpdate(tokenizer, built);
        return built;
    }

    /// <summary>Plain tokens of at most <paramref name="chars"/> characters.</summary>
    public ReadOnlySpan<ulong> PlainUpTo(int chars) => _plainUpTo[Math.Min(chars, CachedLengths + 1)];

    internal static TokenVocabulary Build(TokenByteTable table, int vocabSize)
    {
        var bytes = new byte[vocabSize][];
        for (var id = 0; id < vocabSize; id++)
        {
            bytes[id] = table.TryGetBytes(id, out var b, out var special) && !special ? b.ToArray() : [];
        }

        return Build(bytes);
    }

    /// <summary>From each token's bytes (empty: never allowed).</summary>
    internal static TokenVocabulary Build(byte[][] tokenBytes)
    {
        var vocabulary = new TokenVocabulary(tokenBytes.Length) { TokenBytes = tokenBytes };
        var firstChild = new List<int> { -1 };
        var nextSibling = new List<int> { -1 };
        var label = new List<byte> { 0 };
        var tokenAt = new List<int> { -1 };
        var plain = new int[tokenBytes.Length];
        var maxBytes = 0;
        for (var id = 0; id < tokenBytes.Length; id++)
        {
            var token = tokenBytes[id];
            plain[id] = CountPlainChars(token);
            if (token.Length == 0)
            {
                continue;
            }

            maxBytes = Math.Max(maxBytes, token.Length);
            var node = 0;
            foreach (var b in token)
            {
                var child = firstChild[node];
                while (child >= 0 && label[child] != b)
                {
                    child = nextSibling[child];
                }

                if (child < 0)
                {
                    child = label.Count;
                    label.Add(b);
                    firstChild.Add(-1);
                    tokenAt.Add(-1);
                    nextSibling.Add(firstChild[node]);
                    firstChild[node] = child;
                }

                node = child;
            }

            if (tokenAt[node] < 0)
            {
                tokenAt[node] = id;
            }
            else if (vocabulary.MoreTokensAt.TryGetValue(node, out var more))
            {
                more.Add(id);
            }
            else
            {
                vocabulary.MoreTokensAt[node] = [id];
            }
        }

        vocabulary.FirstChild = [.. firstChild];
        vocabulary.NextSibling = [.. nextSibling];
        vocabulary.Label = [.. label];
        vocabulary.TokenAt = [.. tokenAt];
        vocabulary.PlainChars = plain;
        vocabulary.MaxTokenBytes = maxBytes;

        // Children are always added after their parent: a reverse sweep sees every subtree before its root.
        var subtreePlain = new bool[label.Count];
        for (var node = label.Count - 1; node >= 0; node--)
        {
            var ok = tokenAt[node] < 0 || plain[tokenAt[node]] > 0;
            for (var child = firstChild[node]; ok && child >= 0; child = nextSibling[child])
            {
                ok = subtreePlain[child];
            }

            subtreePlain[node] = ok;
        }

        vocabulary.SubtreePlain = subtreePlain;
        var sets = new ulong[CachedLengths + 2][];
        for (var i = 0; i < sets.Length; i++)
        {
            sets[i] = new ulong[vocabulary.Words];
        }

        for (var id = 0; id < plain.Length; id++)
        {
            if (plain[id] > 0)
            {
                for (var i = Math.Min(plain[id], CachedLengths + 1); i < sets.Length; i++)
                {
                    sets[i][id >> 6] |= 1UL << id;
                }
            }
        }

        vocabulary._plainUpTo = sets;
        return vocabulary;
    }

    /// <summary>Further ids whose bytes equal those of <see cref="TokenAt"/> at a node (rare; empty for most tokenizers).</summary>
    public Dictionary<int, List<int>> MoreTokensAt { get; } = [];

    private static int CountPlainChars(byte[] token)
    {
        if (token.Length == 0)
        {
            return -1;
        }

        var state = 0;
        var chars = 0;
        foreach (var b in token)
        {
            if (state == 0 && b is (byte)'"' or (byte)'\\' or < 0x20)
            {
                return -1;
            }

            if (state == 0)
            {
                chars++;
            }

            state = JsonMatcher.Utf8Next(state, b);
            if (state < 0)
            {
                return -1;
            }
        }

        return chars;
    }
}
