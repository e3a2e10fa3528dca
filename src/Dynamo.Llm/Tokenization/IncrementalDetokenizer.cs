using System.Text;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Tokenization;

/// <summary>
/// Turns a stream of generated token ids into text deltas, one <see cref="Push"/> per token. Never emits half a
/// character: byte-level BPE splits multi-byte characters (emoji, CJK) across tokens, and those bytes are held until
/// the character is complete. Concatenated deltas plus <see cref="Flush"/> equal <c>tokenizer.Decode(ids)</c>.
/// Not thread-safe: one instance per sequence.
/// </summary>
/// <remarks>
/// Byte-level tokenizers (those from <see cref="TokenizerLoader"/>, or any byte-level <see cref="BpeTokenizer"/>) take
/// the fast path: the token's bytes go through a streaming UTF-8 decoder, O(token length) per token. Other tokenizers
/// decode a window of the last few tokens (the incremental detokenization of vLLM and TGI), which is O(window).
/// </remarks>
public sealed class IncrementalDetokenizer
{
    // A UTF-8 character spans at most 4 bytes and every token holds at least one, so a window that has waited for
    // 4 tokens will never complete: emit it with replacement characters rather than grow it.
    private const int MaxPendingTokens = 4;

    // Context kept from the prompt for the window path: enough for tokenizers whose decoding depends on the
    // previous token (SentencePiece's leading space), as vLLM does.
    private const int PromptContextTokens = 5;

    private readonly Tokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly TokenByteTable? _table;

    // Byte path.
    private readonly Decoder? _utf8;
    private char[] _chars = [];
    private bool _pendingBytes;

    // Window path.
    private readonly List<int>? _window;
    private readonly HashSet<int>? _specialIds;
    private int _readOffset;
    private string _prefixText = string.Empty;

    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="promptTokenIds">The prompt, as context for tokenizers whose decoding depends on the preceding
    /// tokens; its text is never emitted.</param>
    /// <param name="skipSpecialTokens">Leave special tokens (added tokens such as <c>&lt;|eot_id|&gt;</c>) out of the
    /// text, as OpenAI-compatible servers do by default. When false, they appear as their text, as in
    /// <c>Decode(ids)</c>.</param>
    public IncrementalDetokenizer(Tokenizer tokenizer, IReadOnlyList<int>? promptTokenIds = null, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
        _table = TokenByteTable.For(tokenizer);
        if (_table is not null)
        {
            _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
            return;
        }

        _window = new List<int>(16);
        _specialIds = skipSpecialTokens ? SpecialIds(tokenizer) : null;
        if (promptTokenIds is { Count: > 0 })
        {
            for (var i = Math.Max(0, promptTokenIds.Count - PromptContextTokens); i < promptTokenIds.Count; i++)
            {
                if (!IsSkipped(promptTokenIds[i]))
                {
                    _window.Add(promptTokenIds[i]);
                }
            }

            _readOffset = _window.Count;
            _prefixText = _tokenizer.Decode(_window);
        }
    }

    /// <summary>Adds one generated token; returns the text it completes (often empty while a character is split).</summary>
    public string Push(int tokenId)
    {
        return _table is not null ? PushBytes(tokenId) : PushWindow(tokenId);
    }

    /// <summary>Returns what is still held back at the end of generation (an incomplete character becomes U+FFFD).</summary>
    public string Flush()
    {
        if (_table is not null)
        {
            EnsureChars(8);
            _pendingBytes = false;
            var count = _utf8!.GetChars([], _chars, flush: true);
            return count == 0 ? string.Empty : new string(_chars, 0, count);
        }

        if (_window!.Count == _readOffset)
        {
            return string.Empty;
        }

        var delta = Delta(_tokenizer.Decode(_window));
        _window.RemoveRange(0, _readOffset);
        _readOffset = _window.Count;
        _prefixText = _tokenizer.Decode(_window);
        return delta;
    }

    private string PushBytes(int tokenId)
    {
        var table = _table!;
        if (!_pendingBytes && table.TryGetText(tokenId, out var text))
        {
            // A whole-character token with nothing held back: its cached text, no decoding and no allocation.
            return _skipSpecialTokens && table.IsSpecial(tokenId) ? string.Empty : text;
        }

        if (!table.TryGetBytes(tokenId, out var bytes, out var special) || (special && _skipSpecialTokens) || bytes.IsEmpty)
        {
            return string.Empty;
        }

        // Each byte yields at most one char, plus up to 3 held-back bytes turning into replacement characters.
        EnsureChars(bytes.Length + 4);
        var count = _utf8!.GetChars(bytes, _chars, flush: false);
        _pendingBytes = HasIncompleteTail(bytes);
        return count == 0 ? string.Empty : new string(_chars, 0, count);
    }

    /// <summary>Whether the bytes end inside a UTF-8 sequence, so that the decoder now holds them back.</summary>
    private static bool HasIncompleteTail(ReadOnlySpan<byte> bytes)
    {
        // Walk back over up to 3 continuation bytes to the lead byte and compare the sequence length it announces.
        for (var back = 1; back <= Math.Min(4, bytes.Length); back++)
        {
            var b = bytes[^back];
            if ((b & 0xC0) == 0x80)
            {
                continue;
            }

            var length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            return length > back;
        }

        // Only continuation bytes: whether they complete a sequence depends on earlier bytes; assume they do not,
        // which only costs a trip through the decoder for the next token.
        return true;
    }

    private string PushWindow(int tokenId)
    {
        if (IsSkipped(tokenId))
        {
            return string.Empty;
        }

        _window!.Add(tokenId);
        var text = _tokenizer.Decode(_window);
        var complete = text.Length > _prefixText.Length && text[^1] != '\uFFFD';
        if (!complete && _window.Count - _readOffset < MaxPendingTokens)
        {
            return string.Empty;
        }

        var delta = Delta(text);

        // The tokens just emitted become the context of the next window.
        _window.RemoveRange(0, _readOffset);
        _readOffset = _window.Count;
        _prefixText = _tokenizer.Decode(_window);
        return delta;
    }

    private string Delta(string text) =>
        text.Length > _prefixText.Length ? text[_prefixText.Length..] : string.Empty;

    private bool IsSkipped(int tokenId) => _specialIds is not null && _specialIds.Contains(tokenId);

    private void EnsureChars(int length)
    {
        if (_chars.Length < length)
        {
            _chars = new char[Math.Max(length, 32)];
        }
    }

    private static HashSet<int> SpecialIds(Tokenizer tokenizer)
    {
        var specials = tokenizer switch
        {
            BpeTokenizer bpe => bpe.SpecialTokens,
            TiktokenTokenizer tiktoken => tiktoken.SpecialTokens,
            SentencePieceTokenizer sentencePiece => sentencePiece.SpecialTokens,
            _ => null,
        };

        return specials is null ? [] : [.. specials.Values];
    }
}
