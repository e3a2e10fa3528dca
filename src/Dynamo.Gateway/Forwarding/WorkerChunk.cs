using System.Buffers;
using System.Text.Json;
using Dynamo.Contracts.Engine;
using Dynamo.Llm.Protocol;

namespace Dynamo.Gateway.Forwarding;

/// <summary>
/// What the gateway reads from one worker SSE event: the choice it advances (text, new token ids, finish
/// reason), the usage of the final event, or an error. Parsed with <see cref="Utf8JsonReader"/>; unknown
/// fields are skipped, so any engine speaking the worker contract (vLLM's OpenAI server too) can be relayed.
/// </summary>
internal sealed class WorkerChunk
{
    public List<int> TokenIds { get; } = new(8);

    /// <summary>The choice's tokens' log-probabilities (<c>logprobs</c> in the completions shape, tokens as <c>token_id:N</c>); empty when none came.</summary>
    public List<LoggedToken> Logprobs { get; } = [];

    /// <summary>The prompt's tokens and scores (<c>prompt_logprobs</c>, same shape; on a choice's first chunk when the request asked); empty when none came.</summary>
    public List<LoggedToken> PromptLogprobs { get; } = [];

    private byte[] _textJson = new byte[256];
    private int _textJsonLength;

    public int ChoiceIndex { get; private set; }

    public bool HasChoice { get; private set; }

    /// <summary>The choice's text, decoded. Only filled when <see cref="Parse"/> is asked to decode it.</summary>
    public string? Text { get; private set; }

    /// <summary>
    /// The choice's text as the JSON string literal the worker sent (quotes and escapes included): a streamed
    /// chunk is relayed by splicing these bytes, with no decode and re-encode per token.
    /// </summary>
    public ReadOnlySpan<byte> TextJson => _textJson.AsSpan(0, _textJsonLength);

    public bool HasText { get; private set; }

    public string? FinishReason { get; private set; }

    public bool HasUsage { get; private set; }

    public int PromptTokens { get; private set; }

    public int CompletionTokens { get; private set; }

    public int CachedTokens { get; private set; }

    /// <summary>Message of an <c>{"error":{...}}</c> event, if that is what came.</summary>
    public string? Error { get; private set; }

    public void Parse(ReadOnlySequence<byte> json, bool decodeText)
    {
        Reset();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 16 });
        Expect(ref reader, JsonTokenType.StartObject);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("choices"u8))
            {
                ReadChoices(ref reader, decodeText);
            }
            else if (reader.ValueTextEquals("usage"u8))
            {
                ReadUsage(ref reader);
            }
            else if (reader.ValueTextEquals("error"u8))
            {
                ReadError(ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private void Reset()
    {
        TokenIds.Clear();
        Logprobs.Clear();
        PromptLogprobs.Clear();
        HasChoice = false;
        ChoiceIndex = 0;
        Text = null;
        HasText = false;
        _textJsonLength = 0;
        FinishReason = null;
        HasUsage = false;
        Error = null;
    }

    private void ReadChoices(ref Utf8JsonReader reader, bool decodeText)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
        {
            if (HasChoice)
            {
                throw new JsonException("Worker chunks carry one choice each.");
            }

            HasChoice = true;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("index"u8))
                {
                    reader.Read();
                    ChoiceIndex = reader.GetInt32();
                }
                else if (reader.ValueTextEquals("text"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        HasText = true;
                        if (decodeText)
                        {
                            Text = reader.GetString();
                        }
                        else
                        {
                            CaptureTextJson(ref reader);
                        }
                    }
                }
                else if (reader.ValueTextEquals("token_ids"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        while (reader.Read() && reader.TokenType == JsonTokenType.Number)
                        {
                            TokenIds.Add(reader.GetInt32());
                        }
                    }
                }
                else if (reader.ValueTextEquals("logprobs"u8))
                {
                    reader.Read();
                    ReadLogprobs(ref reader, Logprobs);
                }
                else if (reader.ValueTextEquals("prompt_logprobs"u8))
                {
                    reader.Read();
                    ReadLogprobs(ref reader, PromptLogprobs);
                }
                else if (reader.ValueTextEquals("finish_reason"u8))
                {
                    reader.Read();
                    FinishReason = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
    }

    /// <summary><c>{"tokens": ["token_id:N"], "token_logprobs": [x|null], "top_logprobs": [{"token_id:N": x}|null], ...}</c>.</summary>
    private static void ReadLogprobs(ref Utf8JsonReader reader, List<LoggedToken> into)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return;
        }

        List<int>? ids = null;
        List<float?>? values = null;
        List<TokenLogprob[]?>? tops = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("tokens"u8))
            {
                reader.Read();
                ids = [];
                while (reader.Read() && reader.TokenType == JsonTokenType.String)
                {
                    ids.Add(TokenId(ref reader));
                }
            }
            else if (reader.ValueTextEquals("token_logprobs"u8))
            {
                reader.Read();
                values = [];
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    values.Add(reader.TokenType == JsonTokenType.Number ? reader.GetSingle() : null);
                }
            }
            else if (reader.ValueTextEquals("top_logprobs"u8))
            {
                reader.Read();
                tops = [];
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        tops.Add(null);
                        continue;
                    }

                    var top = new List<TokenLogprob>();
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var id = TokenId(ref reader);
                        reader.Read();
                        top.Add(new TokenLogprob(id, reader.GetSingle()));
                    }

                    tops.Add([.. top]);
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (ids is null || values is null || values.Count != ids.Count || (tops is not null && tops.Count != ids.Count))
        {
            throw new JsonException("A worker chunk's logprobs need as many token_logprobs (and top_logprobs) as tokens.");
        }

        for (var i = 0; i < ids.Count; i++)
        {
            into.Add(new LoggedToken(ids[i], values[i] is { } value ? new TokenLogprobs(value, tops?[i] ?? []) : null));
        }
    }

    private static int TokenId(ref Utf8JsonReader reader)
    {
        Span<char> buffer = stackalloc char[32];
        if ((reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length) > buffer.Length)
        {
            throw new JsonException("A worker chunk's logprobs name a token that is not token_id:N.");
        }

        var length = reader.CopyString(buffer);
        return LogprobsJson.TryParseTokenId(buffer[..length], out var id)
            ? id
            : throw new JsonException("A worker chunk's logprobs must name tokens as token_id:N (return_tokens_as_token_ids).");
    }

    private void CaptureTextJson(ref Utf8JsonReader reader)
    {
        var length = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (_textJson.Length < length + 2)
        {
            _textJson = new byte[Math.Max(length + 2, _textJson.Length * 2)];
        }

        // The value bytes are the escaped form between the quotes: valid inside a JSON string as they are.
        _textJson[0] = (byte)'"';
        if (reader.HasValueSequence)
        {
            reader.ValueSequence.CopyTo(_textJson.AsSpan(1));
        }
        else
        {
            reader.ValueSpan.CopyTo(_textJson.AsSpan(1));
        }

        _textJson[length + 1] = (byte)'"';
        _textJsonLength = length + 2;
    }

    private void ReadUsage(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return;
        }

        HasUsage = true;
        PromptTokens = CompletionTokens = CachedTokens = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("prompt_tokens"u8))
            {
                reader.Read();
                PromptTokens = reader.GetInt32();
            }
            else if (reader.ValueTextEquals("completion_tokens"u8))
            {
                reader.Read();
                CompletionTokens = reader.GetInt32();
            }
            else if (reader.ValueTextEquals("prompt_tokens_details"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isCached = reader.ValueTextEquals("cached_tokens"u8);
                    reader.Read();
                    if (isCached && reader.TokenType == JsonTokenType.Number)
                    {
                        CachedTokens = reader.GetInt32();
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private void ReadError(ref Utf8JsonReader reader)
    {
        reader.Read();
        Error = "The worker reported an error.";
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isMessage = reader.ValueTextEquals("message"u8);
            reader.Read();
            if (isMessage && reader.TokenType == JsonTokenType.String)
            {
                Error = reader.GetString();
            }
            else
            {
                reader.Skip();
            }
        }
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type)
    {
        if (!reader.Read() || reader.TokenType != type)
        {
            throw new JsonException($"Expected {type} in a worker chunk.");
        }
    }
}
