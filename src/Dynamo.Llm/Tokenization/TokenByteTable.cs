using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Tokenization;

/// <summary>
/// The raw bytes of every token of a byte-level tokenizer, packed in one array, so that detokenizing one token is a
/// slice and a UTF-8 step instead of a decode call. Built once per tokenizer instance.
/// </summary>
internal sealed class TokenByteTable
{
    private const byte Missing = 0;
    private const byte Normal = 1;
    private const byte Special = 2;

    private static readonly ConditionalWeakTable<Tokenizer, TokenByteTable> s_tables = new();

    // Marks a token whose bytes are not complete UTF-8 on their own (part of a split character).
    private static readonly string s_partial = new('\uFFFD', 1);

    private readonly byte[] _blob;
    private readonly int[] _starts;
    private readonly byte[] _kinds;

    // Text of each token decoded on its own, filled on first use: most tokens are whole characters, so streaming
    // them is an array read. Races only write the same value twice.
    private readonly string?[] _texts;

    private TokenByteTable(byte[] blob, int[] starts, byte[] kinds)
    {
        _blob = blob;
        _starts = starts;
        _kinds = kinds;
        _texts = new string?[kinds.Length];
    }

    /// <summary>The table for a tokenizer: one registered by <see cref="TokenizerLoader"/>, or one derived from a
    /// byte-level <see cref="BpeTokenizer"/>; null when the tokenizer's token bytes are not reachable.</summary>
    public static TokenByteTable? For(Tokenizer tokenizer)
    {
        if (s_tables.TryGetValue(tokenizer, out var table))
        {
            return table;
        }

        if (tokenizer is BpeTokenizer { ByteLevel: true } bpe)
        {
            return s_tables.GetValue(tokenizer, _ => FromByteLevel(bpe.Vocabulary, bpe.SpecialTokens));
        }

        return null;
    }

    public static void Register(Tokenizer tokenizer, TokenByteTable table) => s_tables.AddOrUpdate(tokenizer, table);

    /// <summary>Builds the table from a byte-level vocabulary; special (added) tokens decode to their UTF-8 text.</summary>
    public static TokenByteTable FromByteLevel(
        IEnumerable<KeyValuePair<string, int>> vocabulary,
        IReadOnlyDictionary<string, int>? specialTokens)
    {
        var maxId = -1;
        var totalBytes = 0;
        foreach (var (token, id) in vocabulary)
        {
            maxId = Math.Max(maxId, id);
            totalBytes += Encoding.UTF8.GetMaxByteCount(token.Length);
        }

        if (specialTokens is not null)
        {
            foreach (var (token, id) in specialTokens)
            {
                maxId = Math.Max(maxId, id);
                totalBytes += Encoding.UTF8.GetByteCount(token);
            }
        }

        var perId = new (int Start, int Length, byte Kind)[maxId + 1];
        var blob = new byte[totalBytes];
        var used = 0;
        foreach (var (token, id) in vocabulary)
        {
            if (id < 0)
            {
                continue;
            }

            var destination = blob.AsSpan(used);
            if (!ByteLevelAlphabet.TryDecode(token, destination, out var written))
            {
                // A vocabulary entry outside the byte alphabet (an added token kept in the vocab) decodes as text.
                written = Encoding.UTF8.GetBytes(token, destination);
            }

            perId[id] = (used, written, Normal);
            used += written;
        }

        if (specialTokens is not null)
        {
            foreach (var (token, id) in specialTokens)
            {
                if (id < 0)
                {
                    continue;
                }

                var written = Encoding.UTF8.GetBytes(token, blob.AsSpan(used));
                perId[id] = (used, written, Special);
                used += written;
            }
        }

        // Re-pack in id order so that starts[id + 1] - starts[id] is the length.
        var packed = new byte[used];
        var starts = new int[perId.Length + 1];
        var kinds = new byte[perId.Length];
        var offset = 0;
        for (var id = 0; id < perId.Length; id++)
        {
            starts[id] = offset;
            var (start, length, kind) = perId[id];
            kinds[id] = kind;
            blob.AsSpan(start, length).CopyTo(packed.AsSpan(offset));
            offset += length;
        }

        starts[perId.Length] = offset;
        return new TokenByteTable(packed, starts, kinds);
    }

    /// <summary>The token's text when its bytes are complete UTF-8 by themselves; false for a token that holds part of
    /// a character (or an unknown id).</summary>
    public bool TryGetText(int id, out string text)
    {
        text = string.Empty;
        if ((uint)id >= (uint)_texts.Length)
        {
            return false;
        }

        var cached = _texts[id];
        if (cached is null)
        {
            var bytes = _blob.AsSpan(_starts[id], _starts[id + 1] - _starts[id]);
            cached = _kinds[id] != Missing && Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : s_partial;
            _texts[id] = cached;
        }

        if (ReferenceEquals(cached, s_partial))
        {
            return false;
        }

        text = cached;
        return true;
    }

    /// <summary>The bytes of a token; false for ids the tokenizer does not know (decoders skip those).</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)_kinds.Length && _kinds[id] == Special;

    public bool TryGetBytes(int id, out ReadOnlySpan<byte> bytes, out bool special)
    {
        if ((uint)id >= (uint)_kinds.Length || _kinds[id] == Missing)
        {
            bytes = default;
            special = false;
            return false;
        }

        bytes = _blob.AsSpan(_starts[id], _starts[id + 1] - _starts[id]);
        special = _kinds[id] == Special;
        return true;
    }
}
