using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.OpenAi;
using Dynamo.Contracts.Routing;
using Dynamo.Llm.Structured;

namespace Dynamo.Llm.Protocol;

/// <summary>
/// Parses and validates an OpenAI <c>/v1/chat/completions</c> or <c>/v1/completions</c> body in one forward pass
/// over the UTF-8 bytes (no reflection serializer, no intermediate DOM): the gateway runs it on every request.
/// Every rejection is an <see cref="OpenAiException"/> with status 400, type <c>invalid_request_error</c> and
/// <c>param</c> naming the offending field (<c>messages[1].role</c>, <c>stop[2]</c>, ...; null for body-level errors).
/// </summary>
/// <remarks>
/// Choices where OpenAI is silent or lenient: a JSON <c>null</c> on an optional field means "not given"; a
/// duplicated key is validated each time and the last one wins; integers may be written as integral decimals
/// (<c>5.0</c>, <c>1e3</c>) but not as fractions; multi-part chat content is joined with "\n" as vLLM does;
/// <c>max_completion_tokens</c> wins over <c>max_tokens</c>; tools, tool calls and <c>tool_choice</c> are validated by
/// <see cref="ToolRequestReader"/>; parameters of the API this server does not implement yet
/// are refused unless their value asks for nothing (<see cref="UnsupportedParameters"/>); unknown fields are skipped.
/// </remarks>
public static class OpenAiRequestParser
{
    private const int MaxEchoedValueChars = 40;

    public static ParsedRequest Parse(RequestKind kind, ReadOnlySpan<byte> utf8Json, RequestLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        if (!Utf8.IsValid(utf8Json))
        {
            throw OpenAiException.BadRequest("The request body is not valid UTF-8.");
        }

        var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = limits.MaxJsonDepth });
        var state = new State(kind, limits);
        try
        {
            ReadBody(ref reader, state);
        }
        catch (JsonException ex)
        {
            if (IsDepthExceeded(ref reader, utf8Json, limits.MaxJsonDepth))
            {
                throw OpenAiException.BadRequest($"The request body nests deeper than {limits.MaxJsonDepth} levels.", state.Field);
            }

            throw OpenAiException.BadRequest($"The request body is not valid JSON: {ex.Message}", state.Field);
        }

        return state.Build();
    }

    private static void ReadBody(ref Utf8JsonReader reader, State state)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw OpenAiException.BadRequest($"The request body must be a JSON object, got {Describe(ref reader)}.");
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            ReadProperty(ref reader, state);
            state.Field = null;
        }

        // Anything after the closing brace other than whitespace makes Read throw.
        reader.Read();
    }

    private static void ReadProperty(ref Utf8JsonReader reader, State state)
    {
        var limits = state.Limits;
        if (reader.ValueTextEquals("model"u8))
        {
            state.Field = "model";
            reader.Read();
            var model = ReadString(ref reader, "model");
            if (model.Length == 0)
            {
                throw OpenAiException.BadRequest("'model' must not be empty.", "model");
            }

            state.Model = model;
        }
        else if (reader.ValueTextEquals("messages"u8) && state.Kind == RequestKind.Chat)
        {
            state.Field = "messages";
            reader.Read();
            state.Messages = ReadMessages(ref reader);
        }
        else if (reader.ValueTextEquals("prompt"u8) && state.Kind == RequestKind.Completion)
        {
            state.Field = "prompt";
            reader.Read();
            state.Prompts = ReadPrompts(ref reader, limits);
        }
        else if (reader.ValueTextEquals("max_tokens"u8))
        {
            state.Field = "max_tokens";
            reader.Read();
            state.MaxTokens = ReadOptionalInt32(ref reader, "max_tokens", 1, limits.MaxTokensCap ?? int.MaxValue);
        }
        else if (reader.ValueTextEquals("max_completion_tokens"u8))
        {
            state.Field = "max_completion_tokens";
            reader.Read();
            state.MaxCompletionTokens = ReadOptionalInt32(ref reader, "max_completion_tokens", 1, limits.MaxTokensCap ?? int.MaxValue);
        }
        else if (reader.ValueTextEquals("temperature"u8))
        {
            state.Field = "temperature";
            reader.Read();
            state.Temperature = ReadOptionalNumber(ref reader, "temperature", 0, 2, minExclusive: false);
        }
        else if (reader.ValueTextEquals("top_p"u8))
        {
            state.Field = "top_p";
            reader.Read();
            state.TopP = ReadOptionalNumber(ref reader, "top_p", 0, 1, minExclusive: true);
        }
        else if (reader.ValueTextEquals("top_k"u8))
        {
            state.Field = "top_k";
            reader.Read();
            state.TopK = ReadOptionalInt32(ref reader, "top_k", -1, int.MaxValue);
        }
        else if (reader.ValueTextEquals("presence_penalty"u8))
        {
            state.Field = "presence_penalty";
            reader.Read();
            state.PresencePenalty = ReadOptionalNumber(ref reader, "presence_penalty", -2, 2, minExclusive: false);
        }
        else if (reader.ValueTextEquals("frequency_penalty"u8))
        {
            state.Field = "frequency_penalty";
            reader.Read();
            state.FrequencyPenalty = ReadOptionalNumber(ref reader, "frequency_penalty", -2, 2, minExclusive: false);
        }
        else if (reader.ValueTextEquals("n"u8))
        {
            state.Field = "n";
            reader.Read();
            state.N = ReadOptionalInt32(ref reader, "n", 1, limits.MaxN);
        }
        else if (reader.ValueTextEquals("seed"u8))
        {
            state.Field = "seed";
            reader.Read();
            state.Seed = ReadSeed(ref reader);
        }
        else if (reader.ValueTextEquals("stop"u8))
        {
            state.Field = "stop";
            reader.Read();
            state.Stop = ReadStop(ref reader, limits.MaxStopSequences);
        }
        else if (reader.ValueTextEquals("stop_token_ids"u8))
        {
            state.Field = "stop_token_ids";
            reader.Read();
            state.StopTokenIds = reader.TokenType == JsonTokenType.Null ? null : ReadTokenIdArray(ref reader, "stop_token_ids", limits.VocabSize, allowEmpty: true);
        }
        else if (reader.ValueTextEquals("stream"u8))
        {
            state.Field = "stream";
            reader.Read();
            state.Stream = ReadOptionalBool(ref reader, "stream") ?? false;
        }
        else if (reader.ValueTextEquals("stream_options"u8))
        {
            state.Field = "stream_options";
            reader.Read();
            ReadStreamOptions(ref reader, state);
        }
        else if (reader.ValueTextEquals("ignore_eos"u8))
        {
            state.Field = "ignore_eos";
            reader.Read();
            state.IgnoreEos = ReadOptionalBool(ref reader, "ignore_eos") ?? false;
        }
        else if (reader.ValueTextEquals("user"u8))
        {
            state.Field = "user";
            reader.Read();
            state.User = reader.TokenType == JsonTokenType.Null ? null : ReadString(ref reader, "user");
        }
        else if (reader.ValueTextEquals("kv_transfer_params"u8))
        {
            state.Field = "kv_transfer_params";
            reader.Read();
            // ParseValue copies the value into its own document: safe to keep after the body buffer is gone.
            state.KvTransferParams = StartOptionalObject(ref reader, "kv_transfer_params") ? JsonElement.ParseValue(ref reader) : null;
        }
        else if (state.Kind == RequestKind.Chat && reader.ValueTextEquals("tools"u8))
        {
            state.Field = "tools";
            reader.Read();
            state.Tools = reader.TokenType == JsonTokenType.Null ? null : ToolRequestReader.ReadTools(JsonElement.ParseValue(ref reader));
        }
        else if (state.Kind == RequestKind.Chat && reader.ValueTextEquals("tool_choice"u8))
        {
            state.Field = "tool_choice";
            reader.Read();
            state.ToolChoice = reader.TokenType == JsonTokenType.Null ? null : ToolRequestReader.ReadToolChoice(JsonElement.ParseValue(ref reader));
        }
        else if (state.Kind == RequestKind.Chat && reader.ValueTextEquals("parallel_tool_calls"u8))
        {
            state.Field = "parallel_tool_calls";
            reader.Read();
            state.ParallelToolCalls = ReadOptionalBool(ref reader, "parallel_tool_calls");
        }
        else if (reader.ValueTextEquals("response_format"u8))
        {
            state.Field = "response_format";
            reader.Read();
            state.ResponseFormat = reader.TokenType == JsonTokenType.Null ? null : ReadResponseFormat(JsonElement.ParseValue(ref reader));
        }
        else if (reader.ValueTextEquals("generated_prompt_tokens"u8))
        {
            state.Field = "generated_prompt_tokens";
            reader.Read();
            state.GeneratedPromptTokens = ReadOptionalInt32(ref reader, "generated_prompt_tokens", 0, int.MaxValue) ?? 0;
        }
        else if (reader.ValueTextEquals("logprobs"u8))
        {
            state.Field = "logprobs";
            reader.Read();
            if (state.Kind == RequestKind.Chat)
            {
                state.ChatLogprobs = ReadOptionalBool(ref reader, "logprobs");
            }
            else
            {
                state.CompletionLogprobs = ReadOptionalInt32(ref reader, "logprobs", 0, limits.MaxCompletionLogprobs);
            }
        }
        else if (state.Kind == RequestKind.Chat && reader.ValueTextEquals("top_logprobs"u8))
        {
            state.Field = "top_logprobs";
            reader.Read();
            state.TopLogprobs = ReadOptionalInt32(ref reader, "top_logprobs", 0, RequestLimits.MaxTopLogprobs);
        }
        else if (state.Kind == RequestKind.Completion && reader.ValueTextEquals("echo"u8))
        {
            state.Field = "echo";
            reader.Read();
            state.Echo = ReadOptionalBool(ref reader, "echo") ?? false;
        }
        else if (state.Kind == RequestKind.Completion && limits.AcceptPromptLogprobs && reader.ValueTextEquals("prompt_logprobs"u8))
        {
            // vLLM's extension; the worker contract's way to ask for the prompt's own log-probabilities (the gateway's
            // clients ask with echo and logprobs, and get a refusal for this field).
            state.Field = "prompt_logprobs";
            reader.Read();
            state.PromptLogprobs = ReadOptionalInt32(ref reader, "prompt_logprobs", 0, limits.MaxCompletionLogprobs);
        }
        else if (reader.ValueTextEquals("return_tokens_as_token_ids"u8))
        {
            state.Field = "return_tokens_as_token_ids";
            reader.Read();
            state.ReturnTokensAsTokenIds = ReadOptionalBool(ref reader, "return_tokens_as_token_ids") ?? false;
        }
        else if (reader.ValueTextEquals("nvext"u8))
        {
            state.Field = "nvext";
            reader.Read();
            ReadHints(ref reader, state);
        }
        else if (UnsupportedParameters.Find(ref reader, state.Kind) is { } unsupported)
        {
            // Part of the API but not implemented here: refused unless its value asks for nothing.
            state.Field = unsupported.Name;
            reader.Read();
            UnsupportedParameters.Check(unsupported, JsonElement.ParseValue(ref reader));
        }
        else
        {
            // Unknown field: skipped. Its name is only materialised if its value turns out malformed.
            var name = reader;
            try
            {
                reader.Read();
                reader.Skip();
            }
            catch (JsonException)
            {
                state.Field = ReadPropertyNameForError(ref name);
                throw;
            }
        }
    }

    /// <summary>
    /// OpenAI's <c>response_format</c>: <c>text</c> (null: nothing to do), <c>json_object</c>, or <c>json_schema</c> with
    /// its name, schema and strict flag. The schema is compiled here (or found in the cache), so a schema this server
    /// cannot honour is refused at the gateway, before anything is routed, naming the keyword.
    /// </summary>
    /// <summary>
    /// A <c>response_format</c> value, compiled: null for <c>text</c>. Besides OpenAI's fields it takes <c>prefix</c> and
    /// <c>suffix</c>, literal text around the JSON value (at most 256 characters each): how the gateway forces a tool
    /// call in the model's own format.
    /// </summary>
    /// <exception cref="OpenAiException">The value is not a valid or supported response format (400, param <c>response_format</c>).</exception>
    public static ResponseFormat? ReadResponseFormat(JsonElement value)
    {
        var format = ReadResponseFormatCore(value);
        if (format is null)
        {
            return null;
        }

        return format with { Prefix = ReadAffix(value, "prefix"), Suffix = ReadAffix(value, "suffix") };
    }

    private static string ReadAffix(JsonElement value, string name)
    {
        if (!value.TryGetProperty(name, out var affix) || affix.ValueKind == JsonValueKind.Null)
        {
            return "";
        }

        return affix.ValueKind == JsonValueKind.String && affix.GetString() is { Length: <= 256 } text
            ? text
            : throw OpenAiException.BadRequest($"'response_format.{name}' must be a string of at most 256 characters.", "response_format");
    }

    private static ResponseFormat? ReadResponseFormatCore(JsonElement value)
    {
        const string Param = "response_format";
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.BadRequest($"Invalid type for 'response_format': expected an object, but got {value.ValueKind.ToString().ToLowerInvariant()}.", Param);
        }

        if (!value.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            throw OpenAiException.BadRequest("Missing required parameter: 'response_format.type' (a string: 'text', 'json_object' or 'json_schema').", Param);
        }

        switch (type.GetString())
        {
            case "text":
                return null;
            case "json_object":
                return new ResponseFormat { Raw = value, Grammar = JsonGrammar.JsonObject };
            case "json_schema":
                break;
            default:
                throw OpenAiException.BadRequest(
                    $"Invalid value for 'response_format.type': '{OpenAiException.Shorten(type.GetString()!)}'; expected 'text', 'json_object' or 'json_schema'.", Param);
        }

        if (!value.TryGetProperty("json_schema", out var jsonSchema) || jsonSchema.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.BadRequest("Missing required parameter: 'response_format.json_schema' (an object with name and schema).", Param);
        }

        if (!jsonSchema.TryGetProperty("name", out var nameValue) || nameValue.ValueKind != JsonValueKind.String
            || nameValue.GetString() is not { Length: > 0 and <= 64 } name || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
        {
            throw OpenAiException.BadRequest("'response_format.json_schema.name' is required: 1 to 64 letters, digits, underscores or dashes.", Param);
        }

        var strict = false;
        if (jsonSchema.TryGetProperty("strict", out var strictValue) && strictValue.ValueKind != JsonValueKind.Null)
        {
            strict = strictValue.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw OpenAiException.BadRequest("Invalid type for 'response_format.json_schema.strict': expected a boolean.", Param),
            };
        }

        if (!jsonSchema.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.BadRequest("Missing required parameter: 'response_format.json_schema.schema' (a JSON schema object).", Param);
        }

        try
        {
            return new ResponseFormat { Raw = value, Grammar = JsonGrammar.FromSchema(schema, strict, name) };
        }
        catch (SchemaException ex)
        {
            throw OpenAiException.BadRequest($"Invalid schema for response_format '{name}': {ex.Message}.", Param, "invalid_json_schema");
        }
    }

    private static string ReadPropertyNameForError(ref Utf8JsonReader reader)
    {
        try
        {
            var name = reader.GetString()!;
            return name.Length <= MaxEchoedValueChars ? name : name[..MaxEchoedValueChars];
        }
        catch (InvalidOperationException)
        {
            return "?";
        }
    }

    private static List<ChatMessage> ReadMessages(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw TypeError(ref reader, "messages", "an array of messages");
        }

        var messages = new List<ChatMessage>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            messages.Add(ReadMessage(ref reader, messages.Count));
        }

        if (messages.Count == 0)
        {
            throw OpenAiException.BadRequest("'messages' must contain at least one message.", "messages");
        }

        return messages;
    }

    private static ChatMessage ReadMessage(ref Utf8JsonReader reader, int index)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw TypeError(ref reader, $"messages[{index}]", "an object");
        }

        string? role = null;
        string? content = null;
        string? toolCallId = null;
        string? name = null;
        List<ToolCall>? toolCalls = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("role"u8))
            {
                reader.Read();
                role = ReadRole(ref reader, index);
            }
            else if (reader.ValueTextEquals("content"u8))
            {
                reader.Read();
                content = reader.TokenType switch
                {
                    JsonTokenType.Null => null,
                    JsonTokenType.String => ReadString(ref reader, $"messages[{index}].content"),
                    JsonTokenType.StartArray => ReadContentParts(ref reader, index),
                    _ => throw TypeError(ref reader, $"messages[{index}].content", "a string or an array of content parts"),
                };
            }
            else if (reader.ValueTextEquals("tool_calls"u8))
            {
                reader.Read();
                toolCalls = reader.TokenType == JsonTokenType.Null ? null : ToolRequestReader.ReadToolCalls(JsonElement.ParseValue(ref reader), $"messages[{index}].tool_calls");
            }
            else if (reader.ValueTextEquals("tool_call_id"u8))
            {
                reader.Read();
                toolCallId = reader.TokenType == JsonTokenType.Null ? null : ReadString(ref reader, $"messages[{index}].tool_call_id");
            }
            else if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                name = reader.TokenType == JsonTokenType.Null ? null : ReadString(ref reader, $"messages[{index}].name");
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (role is null)
        {
            throw OpenAiException.BadRequest($"Missing required parameter: 'messages[{index}].role'.", $"messages[{index}].role");
        }

        if (content is null && role != "assistant")
        {
            throw OpenAiException.BadRequest(
                $"'messages[{index}].content' is required for role '{role}'; only assistant messages may omit it or set it to null.",
                $"messages[{index}].content");
        }

        if (toolCalls is { Count: > 0 } && role != "assistant")
        {
            throw OpenAiException.BadRequest(
                $"'messages[{index}].tool_calls' is only allowed on assistant messages, not on role '{role}'.", $"messages[{index}].tool_calls");
        }

        if (role == "tool" && string.IsNullOrEmpty(toolCallId))
        {
            throw OpenAiException.BadRequest(
                $"Missing required parameter: 'messages[{index}].tool_call_id' (a tool message names the call it answers).", $"messages[{index}].tool_call_id");
        }

        return new ChatMessage(role, content ?? "")
        {
            ToolCalls = toolCalls is { Count: > 0 } ? toolCalls : Array.Empty<ToolCall>(),
            ToolCallId = role == "tool" ? toolCallId : null,
            Name = name,
        };
    }

    private static string ReadRole(ref Utf8JsonReader reader, int index)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw TypeError(ref reader, $"messages[{index}].role", "a string");
        }

        if (reader.ValueTextEquals("user"u8))
        {
            return "user";
        }

        if (reader.ValueTextEquals("assistant"u8))
        {
            return "assistant";
        }

        if (reader.ValueTextEquals("tool"u8))
        {
            return "tool";
        }

        // OpenAI's o-series renamed system to developer; templates only know system.
        if (reader.ValueTextEquals("system"u8) || reader.ValueTextEquals("developer"u8))
        {
            return "system";
        }

        throw OpenAiException.BadRequest(
            $"Invalid value for 'messages[{index}].role': {Echo(ref reader)} is not supported; expected one of 'system', 'user', 'assistant', 'developer', 'tool'.",
            $"messages[{index}].role");
    }

    private static string ReadContentParts(ref Utf8JsonReader reader, int index)
    {
        string? single = null;
        StringBuilder? joined = null;
        var part = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var text = ReadContentPart(ref reader, index, part);
            if (part == 0)
            {
                single = text;
            }
            else
            {
                joined ??= new StringBuilder(single);
                joined.Append('\n').Append(text);
            }

            part++;
        }

        if (part == 0)
        {
            throw OpenAiException.BadRequest($"'messages[{index}].content' must not be an empty array.", $"messages[{index}].content");
        }

        return joined?.ToString() ?? single!;
    }

    private static string ReadContentPart(ref Utf8JsonReader reader, int index, int part)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw TypeError(ref reader, $"messages[{index}].content[{part}]", "a content part object");
        }

        var sawType = false;
        string? text = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    throw TypeError(ref reader, $"messages[{index}].content[{part}].type", "a string");
                }

                if (!reader.ValueTextEquals("text"u8))
                {
                    throw OpenAiException.BadRequest(
                        $"Invalid value for 'messages[{index}].content[{part}].type': {Echo(ref reader)} is not supported; only 'text' parts are.",
                        $"messages[{index}].content[{part}].type");
                }

                sawType = true;
            }
            else if (reader.ValueTextEquals("text"u8))
            {
                reader.Read();
                text = ReadString(ref reader, $"messages[{index}].content[{part}].text");
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (!sawType)
        {
            throw OpenAiException.BadRequest(
                $"Missing required parameter: 'messages[{index}].content[{part}].type'.", $"messages[{index}].content[{part}].type");
        }

        return text ?? throw OpenAiException.BadRequest(
            $"Missing required parameter: 'messages[{index}].content[{part}].text'.", $"messages[{index}].content[{part}].text");
    }

    private static List<PromptInput> ReadPrompts(ref Utf8JsonReader reader, RequestLimits limits)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return [PromptInput.FromText(ReadNonEmptyPromptText(ref reader, "prompt"))];
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw TypeError(ref reader, "prompt", "a string, an array of strings, an array of token ids or an array of token-id arrays");
        }

        reader.Read();
        var prompts = new List<PromptInput>();
        switch (reader.TokenType)
        {
            case JsonTokenType.EndArray:
                throw OpenAiException.BadRequest("'prompt' must not be empty.", "prompt");
            case JsonTokenType.Number:
                prompts.Add(PromptInput.FromTokens(ReadTokenIdsFromCurrent(ref reader, "prompt", limits.VocabSize)));
                return prompts;
            case JsonTokenType.String:
                do
                {
                    var param = $"prompt[{prompts.Count}]";
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw TypeError(ref reader, param, "a string (an array of prompts must hold only strings)");
                    }

                    CheckPromptCount(prompts.Count, limits);
                    prompts.Add(PromptInput.FromText(ReadNonEmptyPromptText(ref reader, param)));
                }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray);
                return prompts;
            case JsonTokenType.StartArray:
                do
                {
                    var param = $"prompt[{prompts.Count}]";
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        throw TypeError(ref reader, param, "an array of token ids (an array of token-id prompts must hold only arrays)");
                    }

                    CheckPromptCount(prompts.Count, limits);
                    prompts.Add(PromptInput.FromTokens(ReadTokenIdArray(ref reader, param, limits.VocabSize, allowEmpty: false)));
                }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray);
                return prompts;
            default:
                throw TypeError(ref reader, "prompt[0]", "a string, a token id or an array of token ids");
        }
    }

    private static void CheckPromptCount(int count, RequestLimits limits)
    {
        if (count >= limits.MaxPrompts)
        {
            throw OpenAiException.BadRequest($"'prompt' holds more than {limits.MaxPrompts} prompts.", "prompt");
        }
    }

    private static string ReadNonEmptyPromptText(ref Utf8JsonReader reader, string param)
    {
        var text = ReadString(ref reader, param);
        if (text.Length == 0)
        {
            throw OpenAiException.BadRequest($"'{param}' must not be empty.", param);
        }

        return text;
    }

    /// <summary>Reader on a StartArray of token ids; leaves it on the matching EndArray.</summary>
    private static int[] ReadTokenIdArray(ref Utf8JsonReader reader, string param, int? vocabSize, bool allowEmpty)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw TypeError(ref reader, param, "an array of token ids");
        }

        reader.Read();
        if (reader.TokenType == JsonTokenType.EndArray)
        {
            return allowEmpty ? [] : throw OpenAiException.BadRequest($"'{param}' must not be empty.", param);
        }

        return ReadTokenIdsFromCurrent(ref reader, param, vocabSize);
    }

    /// <summary>Reader on the first element of a token-id array; leaves it on the array's EndArray.</summary>
    private static int[] ReadTokenIdsFromCurrent(ref Utf8JsonReader reader, string param, int? vocabSize)
    {
        var max = (vocabSize ?? int.MaxValue) - 1L;
        var buffer = ArrayPool<int>.Shared.Rent(256);
        var count = 0;
        try
        {
            do
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var id) || id < 0 || id > max)
                {
                    throw BadTokenId(ref reader, $"{param}[{count}]", vocabSize);
                }

                if (count == buffer.Length)
                {
                    var bigger = ArrayPool<int>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, count).CopyTo(bigger);
                    ArrayPool<int>.Shared.Return(buffer);
                    buffer = bigger;
                }

                buffer[count++] = (int)id;
            }
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray);

            return buffer.AsSpan(0, count).ToArray();
        }
        finally
        {
            ArrayPool<int>.Shared.Return(buffer);
        }
    }

    private static OpenAiException BadTokenId(ref Utf8JsonReader reader, string param, int? vocabSize)
    {
        if (reader.TokenType != JsonTokenType.Number)
        {
            return TypeError(ref reader, param, "an integer token id");
        }

        var range = vocabSize is { } v ? $"between 0 and {v - 1}" : "a non-negative integer";
        return OpenAiException.BadRequest($"Invalid token id in '{param}': expected {range}, got {Echo(ref reader)}.", param);
    }

    private static List<string>? ReadStop(ref Utf8JsonReader reader, int maxStop)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                return [ReadNonEmptyStop(ref reader, "stop")];
            case JsonTokenType.StartArray:
                var stops = new List<string>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    var param = $"stop[{stops.Count}]";
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw TypeError(ref reader, param, "a string");
                    }

                    if (stops.Count >= maxStop)
                    {
                        throw OpenAiException.BadRequest($"'stop' may hold at most {maxStop} sequences.", "stop");
                    }

                    stops.Add(ReadNonEmptyStop(ref reader, param));
                }

                return stops;
            default:
                throw TypeError(ref reader, "stop", "a string or an array of strings");
        }
    }

    private static string ReadNonEmptyStop(ref Utf8JsonReader reader, string param)
    {
        var stop = ReadString(ref reader, param);
        if (stop.Length == 0)
        {
            throw OpenAiException.BadRequest($"'{param}' must not be an empty string.", param);
        }

        return stop;
    }

    /// <summary>
    /// Where an optional object's value starts: false for <c>null</c> (the field left unset), true at its
    /// <c>{</c>; anything else is refused naming <paramref name="param"/>.
    /// </summary>
    private static bool StartOptionalObject(ref Utf8JsonReader reader, string param) => reader.TokenType switch
    {
        JsonTokenType.Null => false,
        JsonTokenType.StartObject => true,
        _ => throw TypeError(ref reader, param, "an object"),
    };

    private static void ReadStreamOptions(ref Utf8JsonReader reader, State state)
    {
        state.HasStreamOptions = StartOptionalObject(ref reader, "stream_options");
        if (!state.HasStreamOptions)
        {
            state.IncludeUsage = false;
            return;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("include_usage"u8))
            {
                reader.Read();
                state.IncludeUsage = ReadOptionalBool(ref reader, "stream_options.include_usage") ?? false;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    /// <summary>
    /// <c>nvext</c>, the hints of agents and applications: <c>session_id</c> (1..256 characters, no control
    /// characters), <c>expected_output_tokens</c> (1..<see cref="RequestLimits.MaxExpectedOutputTokens"/>, and at most
    /// <c>max_tokens</c> when both are given; <see cref="State.Build"/> checks that), <c>priority</c>
    /// (<see cref="RequestHints.MinPriority"/>..<see cref="RequestHints.MaxPriority"/>, higher first). A key it does not
    /// know is refused, naming <c>nvext.KEY</c>: a hint misspelt and silently dropped would look honoured.
    /// </summary>
    private static void ReadHints(ref Utf8JsonReader reader, State state)
    {
        state.HasHints = StartOptionalObject(ref reader, "nvext");
        if (!state.HasHints)
        {
            return;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("session_id"u8))
            {
                state.Field = "nvext.session_id";
                reader.Read();
                state.SessionId = reader.TokenType == JsonTokenType.Null ? null : ReadSessionId(ref reader);
            }
            else if (reader.ValueTextEquals("expected_output_tokens"u8))
            {
                state.Field = "nvext.expected_output_tokens";
                reader.Read();
                state.ExpectedOutputTokens = ReadOptionalInt32(ref reader, "nvext.expected_output_tokens", 1, state.Limits.MaxTokensCap ?? RequestLimits.MaxExpectedOutputTokens);
            }
            else if (reader.ValueTextEquals("priority"u8))
            {
                state.Field = "nvext.priority";
                reader.Read();
                state.Priority = ReadOptionalInt32(ref reader, "nvext.priority", RequestHints.MinPriority, RequestHints.MaxPriority);
            }
            else
            {
                var name = "nvext." + OpenAiException.Shorten(ReadPropertyNameForError(ref reader));
                throw OpenAiException.BadRequest(
                    $"Unknown field '{name}': 'nvext' takes 'session_id', 'expected_output_tokens' and 'priority'.", name);
            }
        }

        state.Field = "nvext";
    }

    private static string ReadSessionId(ref Utf8JsonReader reader)
    {
        const string Param = "nvext.session_id";
        var id = ReadString(ref reader, Param);
        if (id.Length is 0 or > RequestHints.MaxSessionIdLength)
        {
            throw OpenAiException.BadRequest(
                $"Invalid value for '{Param}': expected a string of 1 to {RequestHints.MaxSessionIdLength} characters, got {id.Length}.", Param);
        }

        foreach (var c in id)
        {
            if (char.IsControl(c))
            {
                throw OpenAiException.BadRequest($"Invalid value for '{Param}': control characters (U+{(int)c:X4}) are not allowed.", Param);
            }
        }

        return id;
    }

    private static ulong? ReadSeed(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.Number)
        {
            throw TypeError(ref reader, "seed", "an integer");
        }

        // Negative seeds are accepted (OpenAI takes any int64) and reinterpreted as their two's complement.
        if (reader.TryGetInt64(out var signed))
        {
            return unchecked((ulong)signed);
        }

        if (reader.TryGetUInt64(out var unsigned))
        {
            return unsigned;
        }

        if (IsFraction(ref reader))
        {
            throw TypeError(ref reader, "seed", "an integer");
        }

        throw OpenAiException.BadRequest(
            $"Invalid value for 'seed': expected an integer that fits in 64 bits, got {Echo(ref reader)}.", "seed");
    }

    private static int? ReadOptionalInt32(ref Utf8JsonReader reader, string param, int min, int max)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.Number)
        {
            throw TypeError(ref reader, param, "an integer");
        }

        if (reader.TryGetInt64(out var value))
        {
            if (value >= min && value <= max)
            {
                return (int)value;
            }
        }
        else if (reader.TryGetDouble(out var d) && double.IsFinite(d) && Math.Abs(d) < 1e15)
        {
            // 5.0 or 1e3: an integer written as a decimal.
            if (Math.Floor(d) != d)
            {
                throw TypeError(ref reader, param, "an integer");
            }

            if (d >= min && d <= max)
            {
                return (int)d;
            }
        }

        var range = max == int.MaxValue ? $"at least {min}" : $"between {min} and {max}";
        throw OpenAiException.BadRequest($"Invalid value for '{param}': expected an integer {range}, got {Echo(ref reader)}.", param);
    }

    private static double? ReadOptionalNumber(ref Utf8JsonReader reader, string param, double min, double max, bool minExclusive)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.Number)
        {
            throw TypeError(ref reader, param, "a number");
        }

        if (reader.TryGetDouble(out var value) && double.IsFinite(value) && value <= max && (minExclusive ? value > min : value >= min))
        {
            return value;
        }

        var low = minExclusive ? $"greater than {min.ToString(CultureInfo.InvariantCulture)}" : $"at least {min.ToString(CultureInfo.InvariantCulture)}";
        throw OpenAiException.BadRequest(
            $"Invalid value for '{param}': expected a number {low} and at most {max.ToString(CultureInfo.InvariantCulture)}, got {Echo(ref reader)}.",
            param);
    }

    private static bool? ReadOptionalBool(ref Utf8JsonReader reader, string param) => reader.TokenType switch
    {
        JsonTokenType.Null => null,
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        _ => throw TypeError(ref reader, param, "a boolean"),
    };

    private static string ReadString(ref Utf8JsonReader reader, string param)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw TypeError(ref reader, param, "a string");
        }

        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // The bytes are valid UTF-8 (checked up front), so this is an escape such as a lone "\ud800".
            throw OpenAiException.BadRequest($"Invalid value for '{param}': the string contains an unpaired surrogate escape.", param);
        }
    }

    private static bool IsFraction(ref Utf8JsonReader reader) =>
        reader.TryGetDouble(out var d) && double.IsFinite(d) && Math.Floor(d) != d;

    private static OpenAiException TypeError(ref Utf8JsonReader reader, string param, string expected) =>
        OpenAiException.BadRequest($"Invalid type for '{param}': expected {expected}, but got {Describe(ref reader)}.", param);

    private static string Describe(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.String => $"a string ({Echo(ref reader)})",
        JsonTokenType.Number => $"a number ({Echo(ref reader)})",
        JsonTokenType.True => "a boolean (true)",
        JsonTokenType.False => "a boolean (false)",
        JsonTokenType.Null => "null",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        _ => "nothing",
    };

    /// <summary>The value as written in the body, shortened: enough to recognise it, never a 50 MB echo.</summary>
    private static string Echo(ref Utf8JsonReader reader)
    {
        var raw = reader.ValueSpan;
        var shortened = raw.Length > MaxEchoedValueChars;
        if (shortened)
        {
            raw = raw[..MaxEchoedValueChars];
            while (raw.Length > 0 && (raw[^1] & 0xC0) == 0x80)
            {
                raw = raw[..^1];
            }

            if (raw.Length > 0 && raw[^1] >= 0xC0)
            {
                raw = raw[..^1];
            }
        }

        var text = Encoding.UTF8.GetString(raw) + (shortened ? "..." : "");
        return reader.TokenType == JsonTokenType.String ? $"'{text}'" : text;
    }

    /// <summary>
    /// Utf8JsonReader reports nesting beyond MaxDepth as a plain JsonException; tell it apart from a syntax
    /// error by where the reader stopped: at the depth limit, just before another opening bracket.
    /// </summary>
    private static bool IsDepthExceeded(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, int maxDepth)
    {
        if (reader.CurrentDepth < maxDepth - 1)
        {
            return false;
        }

        var i = SkipWhitespace(json, (int)reader.BytesConsumed);
        if (i < json.Length && json[i] is (byte)',' or (byte)':')
        {
            i = SkipWhitespace(json, i + 1);
        }

        return i < json.Length && json[i] is (byte)'[' or (byte)'{';
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> json, int i)
    {
        while (i < json.Length && json[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            i++;
        }

        return i;
    }

    /// <summary>Fields seen so far; <see cref="Build"/> applies the checks that need the whole body.</summary>
    private sealed class State(RequestKind kind, RequestLimits limits)
    {
        public RequestKind Kind { get; } = kind;

        public RequestLimits Limits { get; } = limits;

        /// <summary>Top-level field being read, reported as <c>param</c> when its JSON turns out malformed.</summary>
        public string? Field { get; set; }

        public string? Model { get; set; }

        public List<ChatMessage>? Messages { get; set; }

        public List<PromptInput>? Prompts { get; set; }

        public int? MaxTokens { get; set; }

        public int? MaxCompletionTokens { get; set; }

        public double? Temperature { get; set; }

        public double? TopP { get; set; }

        public int? TopK { get; set; }

        public double? PresencePenalty { get; set; }

        public double? FrequencyPenalty { get; set; }

        public int? N { get; set; }

        public ulong? Seed { get; set; }

        public List<string>? Stop { get; set; }

        public int[]? StopTokenIds { get; set; }

        public bool Stream { get; set; }

        public bool HasStreamOptions { get; set; }

        public bool IncludeUsage { get; set; }

        public bool IgnoreEos { get; set; }

        public string? User { get; set; }

        public JsonElement? KvTransferParams { get; set; }

        public List<ToolDefinition>? Tools { get; set; }

        public ToolChoice? ToolChoice { get; set; }

        public bool? ParallelToolCalls { get; set; }

        public ResponseFormat? ResponseFormat { get; set; }

        public int GeneratedPromptTokens { get; set; }

        public bool? ChatLogprobs { get; set; }

        public int? TopLogprobs { get; set; }

        public int? CompletionLogprobs { get; set; }

        public bool Echo { get; set; }

        public int? PromptLogprobs { get; set; }

        public bool ReturnTokensAsTokenIds { get; set; }

        public bool HasHints { get; set; }

        public string? SessionId { get; set; }

        public int? ExpectedOutputTokens { get; set; }

        public int? Priority { get; set; }

        public ParsedRequest Build()
        {
            if (Model is null)
            {
                throw OpenAiException.BadRequest("Missing required parameter: 'model'.", "model");
            }

            if (Kind == RequestKind.Chat && Messages is null)
            {
                throw OpenAiException.BadRequest("Missing required parameter: 'messages'.", "messages");
            }

            if (Kind == RequestKind.Completion && Prompts is null)
            {
                throw OpenAiException.BadRequest("Missing required parameter: 'prompt'.", "prompt");
            }

            if (HasStreamOptions && !Stream)
            {
                throw OpenAiException.BadRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options");
            }

            if (TopLogprobs is > 0 && ChatLogprobs != true)
            {
                throw OpenAiException.BadRequest("'top_logprobs' needs 'logprobs' set to true.", "top_logprobs");
            }

            var maxTokens = MaxCompletionTokens ?? MaxTokens;
            if (HasHints && ExpectedOutputTokens > maxTokens)
            {
                throw OpenAiException.BadRequest(
                    $"Invalid value for 'nvext.expected_output_tokens': {ExpectedOutputTokens} is more than max_tokens ({maxTokens}); the request cannot produce that many.",
                    "nvext.expected_output_tokens");
            }

            var tools = (IReadOnlyList<ToolDefinition>?)Tools ?? [];
            var toolChoice = ToolRequestReader.Resolve(ToolChoice, tools);
            return new ParsedRequest
            {
                Kind = Kind,
                Model = Model,
                Messages = (IReadOnlyList<ChatMessage>?)Messages ?? [],
                Prompts = (IReadOnlyList<PromptInput>?)Prompts ?? [],
                MaxTokens = maxTokens,
                Sampling = new SamplingOptions
                {
                    Temperature = (float)(Temperature ?? 1.0),
                    TopP = (float)(TopP ?? 1.0),
                    TopK = TopK is > 0 ? TopK.Value : 0,
                    Seed = Seed,
                    PresencePenalty = (float)(PresencePenalty ?? 0),
                    FrequencyPenalty = (float)(FrequencyPenalty ?? 0),
                },
                Stop = (IReadOnlyList<string>?)Stop ?? [],
                StopTokenIds = (IReadOnlyList<int>?)StopTokenIds ?? [],
                N = N ?? 1,
                Stream = Stream,
                IncludeUsage = Stream && IncludeUsage,
                IgnoreEos = IgnoreEos,
                User = User,
                KvTransferParams = KvTransferParams,
                Tools = tools,
                ToolChoice = toolChoice,
                ParallelToolCalls = ParallelToolCalls ?? true,

                ResponseFormat = ResponseFormat,
                GeneratedPromptTokens = GeneratedPromptTokens,
                Logprobs = Kind == RequestKind.Chat ? (ChatLogprobs == true ? TopLogprobs ?? 0 : null) : CompletionLogprobs,
                Echo = Echo,
                PromptLogprobs = PromptLogprobs,
                ReturnTokensAsTokenIds = ReturnTokensAsTokenIds,
                Hints = HasHints && (SessionId is not null || ExpectedOutputTokens is not null || Priority is not null)
                    ? new RequestHints(SessionId, ExpectedOutputTokens, Priority ?? 0)
                    : null,
            };
        }
    }
}
