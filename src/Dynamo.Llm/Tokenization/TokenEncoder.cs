using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Tokenization;

/// <summary>
/// Encodes prompt text with a model's byte-level BPE in O(n log n) of the input and stops when asked to.
/// Microsoft.ML.Tokenizers gives the same ids but is quadratic in the length of a pre-token (its BPE compacts the
/// merged word one removal at a time; its tiktoken mode rescans every pair after each merge), so one whitespace-free
/// megabyte kept a core busy for over a minute, with no way to stop it when the client left. Here a word's symbols
/// form a linked list, candidate merges wait in a heap ordered by (rank, position), stale entries are
/// skipped when popped, and the survivors are collected in one pass: the merge order, and so the output, is the
/// library's (ties go to the leftmost pair, as in Hugging Face's and tiktoken's BPE). The cancellation token is
/// checked between pre-tokens and every few thousand merges inside one.
/// </summary>
public sealed class TokenEncoder
{
    /// <summary>Pre-tokens at most this long (in UTF-16 units) have their ids cached, as the library does.</summary>
    internal const int MaxCachedWordLength = 15;

    // Work items (symbols built, merges popped) between two looks at the cancellation token.
    private const int CancellationStride = 4096;
    private const int MaxCacheEntries = 1 << 16;

    private readonly PreTokenizer _preTokenizer;
    private readonly Dictionary<string, int> _specialTokens;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _specialLookup;
    private readonly Dictionary<string, int>? _wholeWords;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _wholeLookup;
    private readonly int[] _byteIds;
    private readonly int? _unknownId;
    private readonly bool _fuseUnknown;
    private readonly Dictionary<long, (int Rank, int NewId)> _pairs;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;
    private int _cacheCount;

    private TokenEncoder(
        PreTokenizer preTokenizer,
        IReadOnlyDictionary<string, int> specialTokens,
        Dictionary<string, int>? wholeWords,
        int[] byteIds,
        int? unknownId,
        bool fuseUnknown,
        Dictionary<long, (int Rank, int NewId)> pairs)
    {
        _preTokenizer = preTokenizer;
        _specialTokens = new Dictionary<string, int>(specialTokens, StringComparer.Ordinal);
        _specialLookup = _specialTokens.GetAlternateLookup<ReadOnlySpan<char>>();
        _wholeWords = wholeWords;
        _wholeLookup = (wholeWords ?? _specialTokens).GetAlternateLookup<ReadOnlySpan<char>>();
        _byteIds = byteIds;
        _unknownId = unknownId;
        _fuseUnknown = fuseUnknown;
        _pairs = pairs;
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>
    /// Hugging Face BPE: pairs merge in the order of the merge list. A byte missing from the vocabulary becomes
    /// <paramref name="unknownToken"/> (consecutive ones fused into one when <paramref name="fuseUnknown"/>), or is
    /// dropped when there is none, as in the library.
    /// </summary>
    /// <exception cref="ArgumentException">A merge names a token that is not in the vocabulary.</exception>
    internal static TokenEncoder FromMerges(
        PreTokenizer preTokenizer,
        IReadOnlyDictionary<string, int> vocabulary,
        IReadOnlyList<string> merges,
        IReadOnlyDictionary<string, int> specialTokens,
        string? unknownToken,
        bool fuseUnknown)
    {
        var pairs = new Dictionary<long, (int, int)>(merges.Count);
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var merge = merges[rank];
            var space = merge.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0)
            {
                throw new ArgumentException($"merges[{rank}] '{merge}' is not \"left right\".");
            }

            var left = merge[..space];
            var right = merge[(space + 1)..];
            if (!vocabulary.TryGetValue(left, out var leftId) || !vocabulary.TryGetValue(right, out var rightId)
                || !vocabulary.TryGetValue(left + right, out var newId))
            {
                throw new ArgumentException($"merges[{rank}] '{merge}' names a token that is not in the vocabulary.");
            }

            pairs.TryAdd(PairKey(leftId, rightId), (rank, newId));
        }

        int? unknownId = unknownToken is not null && vocabulary.TryGetValue(unknownToken, out var unk) ? unk : null;
        return new TokenEncoder(preTokenizer, specialTokens, null, ByteIds(vocabulary), unknownId, fuseUnknown, pairs);
    }

    /// <summary>
    /// tiktoken-style BPE (Hugging Face's <c>ignore_merges</c>): a pre-token that is a whole token is that token;
    /// otherwise the adjacent pair whose concatenation has the lowest id merges first.
    /// </summary>
    /// <exception cref="ArgumentException">A byte has no token of its own.</exception>
    internal static TokenEncoder FromRanks(
        PreTokenizer preTokenizer,
        IReadOnlyDictionary<string, int> vocabulary,
        IReadOnlyDictionary<string, int> specialTokens)
    {
        var byteIds = ByteIds(vocabulary);
        var missing = Array.IndexOf(byteIds, -1);
        if (missing >= 0)
        {
            throw new ArgumentException($"byte 0x{missing:X2} has no token; tiktoken-style BPE needs all 256.");
        }

        // Every part of a tiktoken merge is itself a token, so "the rank of a+b" is a lookup by the ids of a and b:
        // each split of each token into two tokens is such a pair.
        var pairs = new Dictionary<long, (int, int)>(vocabulary.Count * 4);
        var wholeWords = new Dictionary<string, int>(vocabulary.Count, StringComparer.Ordinal);
        var lookup = vocabulary as Dictionary<string, int> ?? new Dictionary<string, int>(vocabulary, StringComparer.Ordinal);
        var spans = lookup.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<byte> bytes = stackalloc byte[1024];
        foreach (var (token, id) in vocabulary)
        {
            if (specialTokens.ContainsKey(token))
            {
                continue;
            }

            for (var split = 1; split < token.Length; split++)
            {
                if (spans.TryGetValue(token.AsSpan(0, split), out var leftId) && spans.TryGetValue(token.AsSpan(split), out var rightId))
                {
                    pairs.TryAdd(PairKey(leftId, rightId), (id, id));
                }
            }

            // The library looks a whole pre-token up by its text, skipping tokens that are not whole UTF-8.
            if (token.Length <= bytes.Length && ByteLevelAlphabet.TryDecode(token, bytes, out var written))
            {
                var text = Encoding.UTF8.GetString(bytes[..written]);
                if (!text.Contains('\uFFFD', StringComparison.Ordinal))
                {
                    wholeWords[text] = id;
                }
            }
        }

        return new TokenEncoder(preTokenizer, specialTokens, wholeWords, byteIds, null, false, pairs);
    }

    /// <summary>Token ids of <paramref name="text"/>, as the model's tokenizer gives them.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the work stops
    /// within a few thousand merges.</exception>
    public int[] Encode(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return [];
        }

        var ids = new List<int>(text.Length / 3 + 4);
        var scratch = new Scratch();
        try
        {
            foreach (var (offset, length) in _preTokenizer.PreTokenize(text))
            {
                cancellationToken.ThrowIfCancellationRequested();
                EncodeWord(text.AsSpan(offset, length), ids, ref scratch, cancellationToken);
            }
        }
        finally
        {
            scratch.Return();
        }

        return [.. ids];
    }

    private void EncodeWord(ReadOnlySpan<char> word, List<int> ids, ref Scratch scratch, CancellationToken cancellationToken)
    {
        if (_specialTokens.Count > 0 && _specialLookup.TryGetValue(word, out var special))
        {
            ids.Add(special);
            return;
        }

        if (_wholeWords is not null && _wholeLookup.TryGetValue(word, out var whole))
        {
            ids.Add(whole);
            return;
        }

        var cacheable = word.Length <= MaxCachedWordLength;
        if (cacheable && _cacheLookup.TryGetValue(word, out var cached))
        {
            ids.AddRange(cached);
            return;
        }

        var start = ids.Count;
        Merge(word, ids, ref scratch, cancellationToken);
        // Full means full: common words arrive early, and a bounded cache needs no eviction. (Count on a
        // ConcurrentDictionary takes every lock, hence the counter of our own.)
        if (cacheable && Volatile.Read(ref _cacheCount) < MaxCacheEntries
            && _cacheLookup.TryAdd(word, ids.GetRange(start, ids.Count - start).ToArray()))
        {
            Interlocked.Increment(ref _cacheCount);
        }
    }

    /// <summary>BPE over one pre-token: its UTF-8 bytes become symbols, then pairs merge by rank until none applies.</summary>
    private void Merge(ReadOnlySpan<char> word, List<int> ids, ref Scratch scratch, CancellationToken cancellationToken)
    {
        var count = BuildSymbols(word, ref scratch, cancellationToken);
        var symbols = scratch.Ids;
        var next = scratch.Next;
        var prev = scratch.Prev;
        var queue = scratch.Queue ??= new MergeQueue();
        queue.Reset(count);
        for (var i = 0; i + 1 < count; i++)
        {
            if (_pairs.TryGetValue(PairKey(symbols[i], symbols[i + 1]), out var merge))
            {
                queue.AddUnordered(MergeQueue.Pack(merge.Rank, i));
            }
        }

        queue.Heapify();
        var work = 0;
        while (queue.TryPop(out var entry))
        {
            if (++work == CancellationStride)
            {
                work = 0;
                cancellationToken.ThrowIfCancellationRequested();
            }

            var pos = MergeQueue.Position(entry);
            var right = next[pos];
            if (symbols[pos] < 0 || right < 0)
            {
                continue;
            }

            // Stale entry: the pair at pos changed since it was queued. A pair has one rank and a rank one result,
            // so this is the library's check (same resulting token).
            if (!_pairs.TryGetValue(PairKey(symbols[pos], symbols[right]), out var current) || current.Rank != MergeQueue.Rank(entry))
            {
                continue;
            }

            var newId = current.NewId;
            symbols[pos] = newId;
            symbols[right] = -1;
            var after = next[right];
            next[pos] = after;
            if (after >= 0)
            {
                prev[after] = pos;
            }

            var before = prev[pos];
            if (before >= 0 && _pairs.TryGetValue(PairKey(symbols[before], newId), out var leftMerge))
            {
                queue.Push(MergeQueue.Pack(leftMerge.Rank, before));
            }

            if (after >= 0 && _pairs.TryGetValue(PairKey(newId, symbols[after]), out var rightMerge))
            {
                queue.Push(MergeQueue.Pack(rightMerge.Rank, pos));
            }
        }

        for (var i = 0; i < count; i++)
        {
            if (symbols[i] >= 0)
            {
                ids.Add(symbols[i]);
            }
        }
    }

    /// <summary>One symbol per UTF-8 byte (lone surrogates as their 3-byte form, as the library writes them).</summary>
    private int BuildSymbols(ReadOnlySpan<char> word, ref Scratch scratch, CancellationToken cancellationToken)
    {
        // Exact, not 3 per char: a long ASCII word would otherwise rent three times the memory it needs. (A lone
        // surrogate counts 3 here as U+FFFD, the same 3 bytes it gets below.)
        scratch.Ensure(Encoding.UTF8.GetByteCount(word));
        var symbols = scratch.Ids;
        var count = 0;
        var pendingUnknown = false;
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < word.Length; i++)
        {
            if ((i & (CancellationStride - 1)) == CancellationStride - 1)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            int written;
            var c = word[i];
            if (char.IsHighSurrogate(c) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]))
            {
                written = new Rune(c, word[i + 1]).EncodeToUtf8(utf8);
                i++;
            }
            else if (c < 0x80)
            {
                utf8[0] = (byte)c;
                written = 1;
            }
            else if (c < 0x800)
            {
                utf8[0] = (byte)(0xC0 | (c >> 6));
                utf8[1] = (byte)(0x80 | (c & 0x3F));
                written = 2;
            }
            else
            {
                utf8[0] = (byte)(0xE0 | (c >> 12));
                utf8[1] = (byte)(0x80 | ((c >> 6) & 0x3F));
                utf8[2] = (byte)(0x80 | (c & 0x3F));
                written = 3;
            }

            for (var b = 0; b < written; b++)
            {
                var id = _byteIds[utf8[b]];
                if (id >= 0)
                {
                    symbols[count++] = id;
                    pendingUnknown = false;
                }
                else if (_unknownId is { } unknown && !(pendingUnknown && _fuseUnknown))
                {
                    symbols[count++] = unknown;
                    pendingUnknown = true;
                }
            }
        }

        var next = scratch.Next;
        var prev = scratch.Prev;
        for (var i = 0; i < count; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }

        return count;
    }

    private static int[] ByteIds(IReadOnlyDictionary<string, int> vocabulary)
    {
        var ids = new int[256];
        for (var b = 0; b < 256; b++)
        {
            ids[b] = vocabulary.TryGetValue(ByteLevelAlphabet.ToChar((byte)b).ToString(), out var id) ? id : -1;
        }

        return ids;
    }

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>Per-call buffers, rented once and grown for the longest pre-token of the call.</summary>
    private struct Scratch
    {
        public int[] Ids;
        public int[] Next;
        public int[] Prev;
        public MergeQueue? Queue;

        public void Ensure(int length)
        {
            if (Ids is not null && Ids.Length >= length)
            {
                return;
            }

            Return();
            Ids = ArrayPool<int>.Shared.Rent(Math.Max(length, 64));
            Next = ArrayPool<int>.Shared.Rent(Ids.Length);
            Prev = ArrayPool<int>.Shared.Rent(Ids.Length);
        }

        public void Return()
        {
            if (Ids is null)
            {
                return;
            }

            ArrayPool<int>.Shared.Return(Ids);
            ArrayPool<int>.Shared.Return(Next);
            ArrayPool<int>.Shared.Return(Prev);
            Ids = null!;
        }
    }
}
