using System.Globalization;
using System.Text;
using System.Text.Json;
using Dynamo.Contracts.Engine;
using Dynamo.Llm.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Protocol;

/// <summary>One token of a choice's log-probabilities: its id, and its numbers (null for a prompt's first token, which has no context).</summary>
public readonly record struct LoggedToken(int TokenId, TokenLogprobs? Logprobs);

/// <summary>
/// Writes OpenAI's <c>logprobs</c> objects from token ids and numbers: chat's <c>{"content": [{token, logprob, bytes,
/// top_logprobs}]}</c> and completions' <c>{tokens, token_logprobs, top_logprobs, text_offset}</c>. A token's text is the
/// tokenizer's text of that one id, and its <c>bytes</c> its raw bytes where the tokenizer knows them (a byte-level
/// tokenizer: a token holding part of a character shows U+FFFD as text and its true bytes), else the UTF-8 of its text.
/// With <c>return_tokens_as_token_ids</c> the text is <c>token_id:N</c> (vLLM's form; the worker contract uses it).
/// Log-probabilities below −9999 (or −∞) are written as −9999, as vLLM does: JSON has no infinity.
/// </summary>
public sealed class LogprobsJson
{
    private const float Floor = -9999f;

    private readonly Tokenizer _tokenizer;
    private readonly TokenByteTable? _table;
    private readonly bool _asTokenIds;
    private readonly Dictionary<int, string> _texts = [];

    public LogprobsJson(Tokenizer tokenizer, bool asTokenIds)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _table = TokenByteTable.For(tokenizer);
        _asTokenIds = asTokenIds;
    }

    /// <summary>The text a token is listed under.</summary>
    public string Text(int id)
    {
        if (_texts.TryGetValue(id, out var text))
        {
            return text;
        }

        if (_asTokenIds)
        {
            text = "token_id:" + id.ToString(CultureInfo.InvariantCulture);
        }
        else if (_table is not null && _table.TryGetBytes(id, out var bytes, out _))
        {
            text = Encoding.UTF8.GetString(bytes);
        }
        else
        {
            text = _tokenizer.Decode([id]) ?? "";
        }

        _texts[id] = text;
        return text;
    }

    /// <summary>A prompt's tokens with their scores (<see cref="Contracts.Engine.EngineOutput.PromptLogprobs"/>: the first null).</summary>
    public static LoggedToken[] Prompt(int[] tokens, TokenLogprobs?[] scores)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(scores);
        var logged = new LoggedToken[Math.Min(tokens.Length, scores.Length)];
        for (var i = 0; i < logged.Length; i++)
        {
            logged[i] = new LoggedToken(tokens[i], scores[i]);
        }

        return logged;
    }

    /// <summary>Reads a token written as <c>token_id:N</c>; false for anything else.</summary>
    public static bool TryParseTokenId(ReadOnlySpan<char> text, out int id)
    {
        id = 0;
        return text.StartsWith("token_id:", StringComparison.Ordinal)
            && int.TryParse(text["token_id:".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out id);
    }

    /// <summary>Chat's <c>"logprobs": {"content": [...]}</c> for <paramref name="tokens"/>.</summary>
    public void WriteChat(Utf8JsonWriter json, ReadOnlySpan<LoggedToken> tokens)
    {
        ArgumentNullException.ThrowIfNull(json);
        json.WriteStartObject("logprobs"u8);
        json.WriteStartArray("content"u8);
        foreach (var token in tokens)
        {
            json.WriteStartObject();
            WriteEntry(json, token.TokenId, token.Logprobs?.Logprob);
            json.WriteStartArray("top_logprobs"u8);
            foreach (var top in token.Logprobs?.Top ?? [])
            {
                json.WriteStartObject();
                WriteEntry(json, top.TokenId, top.Logprob);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>
    /// Completions' <c>"logprobs": {tokens, token_logprobs, top_logprobs, text_offset}</c>. <paramref name="textOffset"/>
    /// is where the first token's text starts in the choice's text, and is advanced past the last one (vLLM counts
    /// offsets the same way: by the tokens' own texts).
    /// </summary>
    public void WriteCompletion(Utf8JsonWriter json, ReadOnlySpan<LoggedToken> tokens, ref int textOffset) =>
        WriteCompletion(json, "logprobs"u8, tokens, ref textOffset);

    /// <summary>As <see cref="WriteCompletion(Utf8JsonWriter, ReadOnlySpan{LoggedToken}, ref int)"/>, under the property
    /// <paramref name="name"/> (the worker contract's <c>prompt_logprobs</c> has the same shape).</summary>
    public void WriteCompletion(Utf8JsonWriter json, ReadOnlySpan<byte> name, ReadOnlySpan<LoggedToken> tokens, ref int textOffset)
    {
        ArgumentNullException.ThrowIfNull(json);
        json.WriteStartObject(name);
        json.WriteStartArray("tokens"u8);
        foreach (var token in tokens)
        {
            json.WriteStringValue(Text(token.TokenId));
        }

        json.WriteEndArray();
        json.WriteStartArray("token_logprobs"u8);
        foreach (var token in tokens)
        {
            if (token.Logprobs is { } lp)
            {
                json.WriteNumberValue(Clamp(lp.Logprob));
            }
            else
            {
                json.WriteNullValue();
            }
        }

        json.WriteEndArray();
        json.WriteStartArray("top_logprobs"u8);
        foreach (var token in tokens)
        {
            if (token.Logprobs is not { } lp)
            {
                json.WriteNullValue();
                continue;
            }

            // Keyed by text: two ids with the same text (split characters) keep the more likely one.
            json.WriteStartObject();
            HashSet<string>? seen = lp.Top.Length > 1 ? new HashSet<string>(StringComparer.Ordinal) : null;
            foreach (var top in lp.Top)
            {
                var text = Text(top.TokenId);
                if (seen is null || seen.Add(text))
                {
                    json.WriteNumber(text, Clamp(top.Logprob));
                }
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartArray("text_offset"u8);
        foreach (var token in tokens)
        {
            json.WriteNumberValue(textOffset);
            textOffset += Text(token.TokenId).Length;
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private void WriteEntry(Utf8JsonWriter json, int id, float? logprob)
    {
        json.WriteString("token"u8, Text(id));
        if (logprob is { } value)
        {
            json.WriteNumber("logprob"u8, Clamp(value));
        }
        else
        {
            json.WriteNull("logprob"u8);
        }

        json.WriteStartArray("bytes"u8);
        if (!_asTokenIds && _table is not null && _table.TryGetBytes(id, out var bytes, out _))
        {
            foreach (var b in bytes)
            {
                json.WriteNumberValue(b);
            }
        }
        else
        {
            foreach (var b in Encoding.UTF8.GetBytes(Text(id)))
            {
                json.WriteNumberValue(b);
            }
        }

        json.WriteEndArray();
    }

    private static float Clamp(float logprob) => logprob >= Floor ? logprob : Floor;
}
