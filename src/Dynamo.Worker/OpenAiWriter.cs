using System.Runtime.InteropServices;
using System.Text.Json;
using Dynamo.Llm.Protocol;

namespace Dynamo.Worker;

/// <summary>
/// Writes the OpenAI response shapes (those of Contracts' <c>CompletionResponse</c> and <c>ChatCompletionResponse</c>,
/// field for field) straight into the response's pipe with <see cref="Utf8JsonWriter"/>: no DTO per token.
/// </summary>
internal static class OpenAiWriter
{
    private static readonly JsonEncodedText s_id = JsonEncodedText.Encode("id");
    private static readonly JsonEncodedText s_object = JsonEncodedText.Encode("object");
    private static readonly JsonEncodedText s_created = JsonEncodedText.Encode("created");
    private static readonly JsonEncodedText s_model = JsonEncodedText.Encode("model");
    private static readonly JsonEncodedText s_choices = JsonEncodedText.Encode("choices");
    private static readonly JsonEncodedText s_index = JsonEncodedText.Encode("index");
    private static readonly JsonEncodedText s_text = JsonEncodedText.Encode("text");
    private static readonly JsonEncodedText s_logprobs = JsonEncodedText.Encode("logprobs");
    private static readonly JsonEncodedText s_finishReason = JsonEncodedText.Encode("finish_reason");
    private static readonly JsonEncodedText s_tokenIds = JsonEncodedText.Encode("token_ids");
    private static readonly JsonEncodedText s_usage = JsonEncodedText.Encode("usage");
    private static readonly JsonEncodedText s_promptTokens = JsonEncodedText.Encode("prompt_tokens");
    private static readonly JsonEncodedText s_completionTokens = JsonEncodedText.Encode("completion_tokens");
    private static readonly JsonEncodedText s_totalTokens = JsonEncodedText.Encode("total_tokens");
    private static readonly JsonEncodedText s_promptTokensDetails = JsonEncodedText.Encode("prompt_tokens_details");
    private static readonly JsonEncodedText s_cachedTokens = JsonEncodedText.Encode("cached_tokens");
    private static readonly JsonEncodedText s_systemFingerprint = JsonEncodedText.Encode("system_fingerprint");
    private static readonly JsonEncodedText s_kvTransferParams = JsonEncodedText.Encode("kv_transfer_params");
    private static readonly JsonEncodedText s_delta = JsonEncodedText.Encode("delta");
    private static readonly JsonEncodedText s_message = JsonEncodedText.Encode("message");
    private static readonly JsonEncodedText s_role = JsonEncodedText.Encode("role");
    private static readonly JsonEncodedText s_content = JsonEncodedText.Encode("content");
    private static readonly JsonEncodedText s_assistant = JsonEncodedText.Encode("assistant");

    public static readonly JsonEncodedText TextCompletion = JsonEncodedText.Encode("text_completion");
    public static readonly JsonEncodedText ChatCompletion = JsonEncodedText.Encode("chat.completion");
    public static readonly JsonEncodedText ChatCompletionChunk = JsonEncodedText.Encode("chat.completion.chunk");

    /// <summary>A completions stream chunk with one choice: the text and token id one engine output produced.</summary>
    public static void CompletionChunk(Utf8JsonWriter w, ResponseHeader h, Sequence s, string text, int tokenId, string? finishReason,
        LogprobsJson? logprobs = null, LoggedToken? logged = null, LoggedToken[]? prompt = null)
    {
        Start(w, h, TextCompletion);
        w.WriteStartArray(s_choices);
        w.WriteStartObject();
        w.WriteNumber(s_index, s.Index);
        w.WriteString(s_text, text);
        WritePromptLogprobs(w, logprobs, prompt);
        if (logprobs is not null && logged is { } entry)
        {
            var offset = s.TextOffset;
            logprobs.WriteCompletion(w, [entry], ref offset);
            s.TextOffset = offset;
        }
        else
        {
            w.WriteNull(s_logprobs);
        }

        FinishReason(w, finishReason);
        w.WriteStartArray(s_tokenIds);
        if (tokenId >= 0)
        {
            w.WriteNumberValue(tokenId);
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndArray();
        End(w, h);
    }

    /// <summary>A chat stream chunk with one choice; the role goes in the first chunk of each choice.</summary>
    public static void ChatChunk(Utf8JsonWriter w, ResponseHeader h, int index, bool withRole, string text, string? finishReason,
        LogprobsJson? logprobs = null, LoggedToken? logged = null)
    {
        Start(w, h, ChatCompletionChunk);
        w.WriteStartArray(s_choices);
        w.WriteStartObject();
        w.WriteNumber(s_index, index);
        w.WriteStartObject(s_delta);
        if (withRole)
        {
            w.WriteString(s_role, s_assistant);
        }

        if (text.Length > 0 || withRole)
        {
            w.WriteString(s_content, text);
        }

        w.WriteEndObject();
        if (logprobs is not null && logged is { } entry)
        {
            logprobs.WriteChat(w, [entry]);
        }
        else
        {
            w.WriteNull(s_logprobs);
        }

        FinishReason(w, finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        End(w, h);
    }

    /// <summary>The last stream chunk when <c>include_usage</c> is set: no choices, only usage.</summary>
    public static void UsageChunk(Utf8JsonWriter w, ResponseHeader h, JsonEncodedText objectName, in UsageCounts usage)
    {
        Start(w, h, objectName);
        w.WriteStartArray(s_choices);
        w.WriteEndArray();
        Usage(w, usage);
        End(w, h);
    }

    /// <summary>
    /// <c>"prompt_logprobs": {tokens, token_logprobs, top_logprobs, text_offset}</c>: the prompt's tokens and scores in the
    /// completions <c>logprobs</c> shape (first entries null, offsets from the prompt's start). vLLM's request field; its
    /// own response lists dicts per token instead, which a streamed chunk does not carry. Nothing when none came.
    /// </summary>
    private static void WritePromptLogprobs(Utf8JsonWriter w, LogprobsJson? logprobs, LoggedToken[]? prompt)
    {
        if (logprobs is not null && prompt is not null)
        {
            var offset = 0;
            logprobs.WriteCompletion(w, "prompt_logprobs"u8, prompt, ref offset);
        }
    }

    public static void CompletionResponse(Utf8JsonWriter w, ResponseHeader h, Sequence[] sequences, in UsageCounts usage, LogprobsJson? logprobs = null)
    {
        Start(w, h, TextCompletion);
        w.WriteStartArray(s_choices);
        foreach (var s in sequences)
        {
            w.WriteStartObject();
            w.WriteNumber(s_index, s.Index);
            w.WriteString(s_text, s.Text?.ToString() ?? "");
            WritePromptLogprobs(w, logprobs, s.PromptLogprobs);
            if (logprobs is not null && s.Logprobs is { } logged)
            {
                var offset = 0;
                logprobs.WriteCompletion(w, CollectionsMarshal.AsSpan(logged), ref offset);
            }
            else
            {
                w.WriteNull(s_logprobs);
            }

            FinishReason(w, s.FinishReason);
            w.WriteStartArray(s_tokenIds);
            if (s.TokenIds is { } ids)
            {
                foreach (var id in ids)
                {
                    w.WriteNumberValue(id);
                }
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        Usage(w, usage);
        End(w, h);
    }

    public static void ChatResponse(Utf8JsonWriter w, ResponseHeader h, Sequence[] sequences, in UsageCounts usage, LogprobsJson? logprobs = null)
    {
        Start(w, h, ChatCompletion);
        w.WriteStartArray(s_choices);
        foreach (var s in sequences)
        {
            w.WriteStartObject();
            w.WriteNumber(s_index, s.Index);
            w.WriteStartObject(s_message);
            w.WriteString(s_role, s_assistant);
            w.WriteString(s_content, s.Text?.ToString() ?? "");
            w.WriteEndObject();
            if (logprobs is not null && s.Logprobs is { } logged)
            {
                logprobs.WriteChat(w, CollectionsMarshal.AsSpan(logged));
            }
            else
            {
                w.WriteNull(s_logprobs);
            }

            FinishReason(w, s.FinishReason);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        Usage(w, usage);
        End(w, h);
    }

    private static void Start(Utf8JsonWriter w, ResponseHeader h, JsonEncodedText objectName)
    {
        w.WriteStartObject();
        w.WriteString(s_id, h.Id);
        w.WriteString(s_object, objectName);
        w.WriteNumber(s_created, h.Created);
        w.WriteString(s_model, h.Model);
    }

    private static void End(Utf8JsonWriter w, ResponseHeader h)
    {
        w.WriteNull(s_systemFingerprint);
        if (h.KvTransferParams is { } kv)
        {
            w.WritePropertyName(s_kvTransferParams);
            kv.WriteTo(w);
        }

        w.WriteEndObject();
    }

    private static void FinishReason(Utf8JsonWriter w, string? finishReason)
    {
        if (finishReason is null)
        {
            w.WriteNull(s_finishReason);
        }
        else
        {
            w.WriteString(s_finishReason, finishReason);
        }
    }

    private static void Usage(Utf8JsonWriter w, in UsageCounts usage)
    {
        w.WriteStartObject(s_usage);
        w.WriteNumber(s_promptTokens, usage.PromptTokens);
        w.WriteNumber(s_completionTokens, usage.CompletionTokens);
        w.WriteNumber(s_totalTokens, usage.PromptTokens + usage.CompletionTokens);
        w.WriteStartObject(s_promptTokensDetails);
        w.WriteNumber(s_cachedTokens, usage.CachedTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}

/// <summary>The fields every chunk of one response repeats.</summary>
internal sealed record ResponseHeader(string Id, long Created, JsonEncodedText Model, JsonElement? KvTransferParams);

internal readonly record struct UsageCounts(int PromptTokens, int CompletionTokens, int CachedTokens);
