using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;
using Dynamo.Contracts.OpenAi;

namespace Dynamo.Llm.Protocol;

/// <summary>
/// Turns an OpenAI <c>POST /v1/responses</c> body into the equivalent <c>/v1/chat/completions</c> body, so that a
/// Responses request is tokenized, admitted, routed, disaggregated and migrated by exactly the chat path:
/// <c>instructions</c> become a leading system message, <c>input</c> (a string, or message, <c>function_call</c> and
/// <c>function_call_output</c> items) becomes messages after the earlier turns named by <c>previous_response_id</c>,
/// <c>max_output_tokens</c> becomes <c>max_completion_tokens</c>, function <c>tools</c> and <c>tool_choice</c> take
/// chat's shape, and <c>text.format</c> becomes <c>response_format</c>. The chat parser then validates the result;
/// <see cref="MapError"/> renames the fields its errors name back to the Responses fields.
/// </summary>
/// <remarks>
/// Fields of the Responses API this server does not implement are refused with 400 <c>unsupported_parameter</c> unless
/// their value asks for nothing (<c>reasoning</c>, <c>include</c>, <c>background</c>, <c>truncation: "auto"</c>,
/// <c>top_logprobs</c>, <c>max_tool_calls</c>, <c>conversation</c>, <c>prompt</c>,
/// <c>service_tier</c>, <c>text.verbosity</c>, <c>stream_options.include_obfuscation</c>); input other than text
/// (images, files, audio) is refused; fields outside the API are skipped, as chat does.
/// </remarks>
public static class ResponsesRequestTranslator
{
    /// <summary>Most keys a request's <c>metadata</c> may hold (OpenAI's limit).</summary>
    public const int MaxMetadataKeys = 16;

    /// <summary>Translates <paramref name="utf8Json"/>; <paramref name="history"/> returns the stored conversation of a response id (a JSON array of chat messages) or null when none is kept.</summary>
    /// <exception cref="OpenAiException">The body is not a valid Responses request (400), or names a previous response that is not kept (404).</exception>
    public static ResponsesRequest Translate(ReadOnlySpan<byte> utf8Json, RequestLimits limits, Func<string, byte[]?> history)
    {
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(history);
        if (!Utf8.IsValid(utf8Json))
        {
            throw OpenAiException.BadRequest("The request body is not valid UTF-8.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8Json.ToArray(), new JsonDocumentOptions { MaxDepth = limits.MaxJsonDepth });
        }
        catch (JsonException ex)
        {
            throw OpenAiException.BadRequest($"The request body is not valid JSON (or nests deeper than {limits.MaxJsonDepth} levels): {ex.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiException.BadRequest($"The request body must be a JSON object, got {Describe(root)}.");
            }

            return Translate(root, history);
        }
    }

    /// <summary>
    /// An error of the chat parser on a translated body, with the field it names renamed to the Responses field
    /// (<c>max_completion_tokens</c> → <c>max_output_tokens</c>, <c>response_format</c> → <c>text.format</c>,
    /// <c>messages[…]</c> → <c>input</c>).
    /// </summary>
    public static OpenAiException MapError(OpenAiException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var param = error.Param;
        string? mapped = param switch
        {
            null => null,
            "max_completion_tokens" or "max_tokens" => "max_output_tokens",
            "response_format" => "text.format",
            "user" => "user",
            _ when param.StartsWith("messages", StringComparison.Ordinal) => "input",
            _ when param.StartsWith("response_format", StringComparison.Ordinal) => "text.format" + param["response_format".Length..],
            _ => param,
        };
        if (mapped == param)
        {
            return error;
        }

        var message = error.Message
            .Replace("'max_completion_tokens'", "'max_output_tokens'", StringComparison.Ordinal)
            .Replace("response_format", "text.format", StringComparison.Ordinal);
        return new OpenAiException(error.StatusCode, message, error.Type, mapped, error.Code) { RetryAfter = error.RetryAfter };
    }

    private static ResponsesRequest Translate(JsonElement root, Func<string, byte[]?> history)
    {
        foreach (var property in root.EnumerateObject())
        {
            CheckUnsupported(property);
        }

        var stream = OptionalBool(root, "stream") ?? false;
        var store = OptionalBool(root, "store") ?? true;
        var instructions = OptionalString(root, "instructions");
        var previousId = OptionalString(root, "previous_response_id");
        var maxOutput = OptionalPositiveInt(root, "max_output_tokens");
        var metadata = Metadata(root);
        var user = OptionalString(root, "user") ?? OptionalString(root, "safety_identifier");

        byte[]? earlier = null;
        if (previousId is not null)
        {
            earlier = history(previousId) ?? throw new OpenAiException(
                404, $"Previous response with id '{OpenAiException.Shorten(previousId)}' not found (it was not stored, was deleted, or has expired).",
                "invalid_request_error", "previous_response_id", "previous_response_not_found");
        }

        if (!root.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiException.BadRequest("Missing required parameter: 'input'.", "input");
        }

        var inputMessages = WriteArray(json => WriteInput(json, input));

        var chat = new ArrayBufferWriter<byte>(256 + inputMessages.Length + (earlier?.Length ?? 0));
        using (var json = new Utf8JsonWriter(chat))
        {
            json.WriteStartObject();
            if (root.TryGetProperty("model", out var model))
            {
                json.WritePropertyName("model"u8);
                model.WriteTo(json);
            }

            json.WriteStartArray("messages"u8);
            if (instructions is not null)
            {
                json.WriteStartObject();
                json.WriteString("role"u8, "system"u8);
                json.WriteString("content"u8, instructions);
                json.WriteEndObject();
            }

            if (earlier is not null)
            {
                WriteElements(json, earlier);
            }

            WriteElements(json, inputMessages);
            json.WriteEndArray();

            if (maxOutput is { } max)
            {
                json.WriteNumber("max_completion_tokens"u8, max);
            }

            CopyIfPresent(json, root, "temperature");
            CopyIfPresent(json, root, "top_p");
            CopyIfPresent(json, root, "stream");
            CopyIfPresent(json, root, "parallel_tool_calls");
            CopyIfPresent(json, root, "nvext");
            if (user is not null)
            {
                json.WriteString("user"u8, user);
            }

            WriteTools(json, root);
            WriteToolChoice(json, root);
            WriteTextFormat(json, root);
            json.WriteEndObject();
        }

        return new ResponsesRequest
        {
            ChatBody = chat.WrittenSpan.ToArray(),
            InputMessages = inputMessages,
            History = earlier,
            Instructions = instructions,
            PreviousResponseId = previousId,
            Store = store,
            Stream = stream,
            MaxOutputTokens = maxOutput,
            Temperature = OptionalNumber(root, "temperature") ?? 1,
            TopP = OptionalNumber(root, "top_p") ?? 1,
            ParallelToolCalls = OptionalBool(root, "parallel_tool_calls") ?? true,
            Metadata = metadata,
            Tools = Present(root, "tools"),
            ToolChoice = Present(root, "tool_choice"),
            Text = Present(root, "text"),
            User = user,
        };
    }

    // ---- refusals -------------------------------------------------------------------------------------------------

    private static void CheckUnsupported(JsonProperty property)
    {
        var v = property.Value;
        if (v.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        string? feature = property.Name switch
        {
            "reasoning" => IsEmptyReasoning(v) ? null : "reasoning configuration (this server serves no reasoning models)",
            "include" => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0 ? null : "extra output data ('include')",
            "background" => v.ValueKind == JsonValueKind.False ? null : "background responses",
            "truncation" => UnsupportedParameters.IsString(v, "disabled") ? null : "automatic truncation of the conversation",
            "top_logprobs" => v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d == 0 ? null : "log-probabilities",
            "max_tool_calls" => "a limit on built-in tool calls",
            "conversation" => "conversations (use previous_response_id)",
            "prompt" => "prompt templates",
            "service_tier" => UnsupportedParameters.IsString(v, "auto", "default") ? null : "service tiers",
            "stream_options" => StreamOptionsAskNothing(v) ? null : "stream obfuscation ('stream_options.include_obfuscation')",
            _ => null,
        };
        if (feature is not null)
        {
            throw Unsupported(property.Name, feature);
        }
    }

    private static bool IsEmptyReasoning(JsonElement v) =>
        v.ValueKind == JsonValueKind.Object && v.EnumerateObject().All(p => p.Value.ValueKind == JsonValueKind.Null);

    private static bool StreamOptionsAskNothing(JsonElement v) =>
        v.ValueKind == JsonValueKind.Object && v.EnumerateObject().All(p => p.Name != "include_obfuscation" || p.Value.ValueKind is JsonValueKind.False or JsonValueKind.Null);

    private static OpenAiException Unsupported(string param, string feature) => OpenAiException.BadRequest(
        $"'{param}' is not supported by this server yet ({feature}); send the request without it.", param, "unsupported_parameter");

    // ---- input ----------------------------------------------------------------------------------------------------

    private static void WriteInput(Utf8JsonWriter json, JsonElement input)
    {
        if (input.ValueKind == JsonValueKind.String)
        {
            WriteMessage(json, "user", input.GetString()!);
            return;
        }

        if (input.ValueKind != JsonValueKind.Array)
        {
            throw TypeError(input, "input", "a string or an array of input items");
        }

        if (input.GetArrayLength() == 0)
        {
            throw OpenAiException.BadRequest("'input' must not be an empty array.", "input");
        }

        var index = 0;
        var pendingCalls = new List<JsonElement>();
        foreach (var item in input.EnumerateArray())
        {
            var param = $"input[{index}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw TypeError(item, param, "an input item object");
            }

            var type = item.TryGetProperty("type", out var t) && t.ValueKind != JsonValueKind.Null
                ? (t.ValueKind == JsonValueKind.String ? t.GetString()! : throw TypeError(t, param + ".type", "a string"))
                : "message";
            if (type != "function_call" && pendingCalls.Count > 0)
            {
                WriteToolCalls(json, pendingCalls);
                pendingCalls.Clear();
            }

            switch (type)
            {
                case "message":
                    WriteInputMessage(json, item, param);
                    break;
                case "function_call":
                    RequireString(item, "call_id", param);
                    RequireString(item, "name", param);
                    RequireString(item, "arguments", param);
                    pendingCalls.Add(item);
                    break;
                case "function_call_output":
                    json.WriteStartObject();
                    json.WriteString("role"u8, "tool"u8);
                    json.WriteString("tool_call_id"u8, RequireString(item, "call_id", param));
                    json.WriteString("content"u8, OutputText(item, param));
                    json.WriteEndObject();
                    break;
                default:
                    throw OpenAiException.BadRequest(
                        $"Invalid value for '{param}.type': '{OpenAiException.Shorten(type)}' is not supported; expected 'message', 'function_call' or 'function_call_output'.",
                        param + ".type", type is "reasoning" or "item_reference" or "web_search_call" or "file_search_call" or "computer_call" ? "unsupported_parameter" : null);
            }

            index++;
        }

        if (pendingCalls.Count > 0)
        {
            WriteToolCalls(json, pendingCalls);
        }
    }

    private static void WriteInputMessage(Utf8JsonWriter json, JsonElement item, string param)
    {
        var role = RequireString(item, "role", param);
        if (role is not ("user" or "assistant" or "system" or "developer"))
        {
            throw OpenAiException.BadRequest(
                $"Invalid value for '{param}.role': '{OpenAiException.Shorten(role)}' is not supported; expected one of 'user', 'assistant', 'system', 'developer'.",
                param + ".role");
        }

        if (!item.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiException.BadRequest($"Missing required parameter: '{param}.content'.", param + ".content");
        }

        string text;
        if (content.ValueKind == JsonValueKind.String)
        {
            text = content.GetString()!;
        }
        else if (content.ValueKind == JsonValueKind.Array)
        {
            var parts = new List<string>();
            var p = 0;
            foreach (var part in content.EnumerateArray())
            {
                parts.Add(ContentPartText(part, $"{param}.content[{p}]"));
                p++;
            }

            if (parts.Count == 0)
            {
                throw OpenAiException.BadRequest($"'{param}.content' must not be an empty array.", param + ".content");
            }

            text = string.Join('\n', parts);
        }
        else
        {
            throw TypeError(content, param + ".content", "a string or an array of content parts");
        }

        WriteMessage(json, role, text);
    }

    private static string ContentPartText(JsonElement part, string param)
    {
        if (part.ValueKind != JsonValueKind.Object)
        {
            throw TypeError(part, param, "a content part object");
        }

        var type = RequireString(part, "type", param);
        if (type is "input_text" or "output_text" or "text")
        {
            return RequireString(part, "text", param);
        }

        throw OpenAiException.BadRequest(
            $"Invalid value for '{param}.type': '{OpenAiException.Shorten(type)}' is not supported; this server serves text models, so only 'input_text' and 'output_text' parts are accepted.",
            param + ".type", type is "input_image" or "input_file" or "input_audio" or "refusal" ? "unsupported_parameter" : null);
    }

    private static string OutputText(JsonElement item, string param)
    {
        if (!item.TryGetProperty("output", out var output) || output.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiException.BadRequest($"Missing required parameter: '{param}.output'.", param + ".output");
        }

        if (output.ValueKind == JsonValueKind.String)
        {
            return output.GetString()!;
        }

        if (output.ValueKind == JsonValueKind.Array)
        {
            var parts = new List<string>();
            var p = 0;
            foreach (var part in output.EnumerateArray())
            {
                parts.Add(ContentPartText(part, $"{param}.output[{p}]"));
                p++;
            }

            return string.Join('\n', parts);
        }

        throw TypeError(output, param + ".output", "a string or an array of content parts");
    }

    private static void WriteToolCalls(Utf8JsonWriter json, List<JsonElement> calls)
    {
        json.WriteStartObject();
        json.WriteString("role"u8, "assistant"u8);
        json.WriteNull("content"u8);
        json.WriteStartArray("tool_calls"u8);
        foreach (var call in calls)
        {
            json.WriteStartObject();
            json.WriteString("id"u8, call.GetProperty("call_id").GetString());
            json.WriteString("type"u8, "function"u8);
            json.WriteStartObject("function"u8);
            json.WriteString("name"u8, call.GetProperty("name").GetString());
            json.WriteString("arguments"u8, call.GetProperty("arguments").GetString());
            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteMessage(Utf8JsonWriter json, string role, string content)
    {
        json.WriteStartObject();
        json.WriteString("role"u8, role);
        json.WriteString("content"u8, content);
        json.WriteEndObject();
    }

    // ---- tools and output format ----------------------------------------------------------------------------------

    private static void WriteTools(Utf8JsonWriter json, JsonElement root)
    {
        if (Present(root, "tools") is not { } tools)
        {
            return;
        }

        if (tools.ValueKind != JsonValueKind.Array)
        {
            throw TypeError(tools, "tools", "an array of tools");
        }

        json.WriteStartArray("tools"u8);
        var index = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var param = $"tools[{index}]";
            if (tool.ValueKind != JsonValueKind.Object)
            {
                throw TypeError(tool, param, "a tool object");
            }

            var type = RequireString(tool, "type", param);
            if (type != "function")
            {
                throw OpenAiException.BadRequest(
                    $"Invalid value for '{param}.type': '{OpenAiException.Shorten(type)}' is not supported; this server runs no built-in tools, only 'function' tools that the client executes.",
                    param + ".type", "unsupported_parameter");
            }

            json.WriteStartObject();
            json.WriteString("type"u8, "function"u8);
            json.WriteStartObject("function"u8);
            json.WriteString("name"u8, RequireString(tool, "name", param));
            foreach (var name in (ReadOnlySpan<string>)["description", "parameters", "strict"])
            {
                if (Present(tool, name) is { } value)
                {
                    json.WritePropertyName(name);
                    value.WriteTo(json);
                }
            }

            json.WriteEndObject();
            json.WriteEndObject();
            index++;
        }

        json.WriteEndArray();
    }

    private static void WriteToolChoice(Utf8JsonWriter json, JsonElement root)
    {
        if (Present(root, "tool_choice") is not { } choice)
        {
            return;
        }

        json.WritePropertyName("tool_choice"u8);
        if (choice.ValueKind == JsonValueKind.String)
        {
            choice.WriteTo(json);
            return;
        }

        if (choice.ValueKind != JsonValueKind.Object)
        {
            throw TypeError(choice, "tool_choice", "'none', 'auto', 'required' or an object naming a function");
        }

        var type = RequireString(choice, "type", "tool_choice");
        if (type != "function")
        {
            throw OpenAiException.BadRequest(
                $"Invalid value for 'tool_choice.type': '{OpenAiException.Shorten(type)}' is not supported; only 'function' tools run here.",
                "tool_choice.type", "unsupported_parameter");
        }

        json.WriteStartObject();
        json.WriteString("type"u8, "function"u8);
        json.WriteStartObject("function"u8);
        json.WriteString("name"u8, RequireString(choice, "name", "tool_choice"));
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteTextFormat(Utf8JsonWriter json, JsonElement root)
    {
        if (Present(root, "text") is not { } text)
        {
            return;
        }

        if (text.ValueKind != JsonValueKind.Object)
        {
            throw TypeError(text, "text", "an object");
        }

        if (Present(text, "verbosity") is { } verbosity && !UnsupportedParameters.IsString(verbosity, "medium"))
        {
            throw Unsupported("text.verbosity", "output verbosity");
        }

        if (Present(text, "format") is not { } format)
        {
            return;
        }

        if (format.ValueKind != JsonValueKind.Object)
        {
            throw TypeError(format, "text.format", "an object");
        }

        var type = RequireString(format, "type", "text.format");
        switch (type)
        {
            case "text":
                return;
            case "json_object":
                json.WriteStartObject("response_format"u8);
                json.WriteString("type"u8, "json_object"u8);
                json.WriteEndObject();
                return;
            case "json_schema":
                json.WriteStartObject("response_format"u8);
                json.WriteString("type"u8, "json_schema"u8);
                json.WriteStartObject("json_schema"u8);
                json.WriteString("name"u8, RequireString(format, "name", "text.format"));
                foreach (var name in (ReadOnlySpan<string>)["description", "schema", "strict"])
                {
                    if (Present(format, name) is { } value)
                    {
                        json.WritePropertyName(name);
                        value.WriteTo(json);
                    }
                }

                json.WriteEndObject();
                json.WriteEndObject();
                return;
            default:
                throw OpenAiException.BadRequest(
                    $"Invalid value for 'text.format.type': '{OpenAiException.Shorten(type)}'; expected 'text', 'json_object' or 'json_schema'.", "text.format.type");
        }
    }

    // ---- helpers --------------------------------------------------------------------------------------------------

    private static JsonElement? Metadata(JsonElement root)
    {
        if (Present(root, "metadata") is not { } metadata)
        {
            return null;
        }

        if (metadata.ValueKind != JsonValueKind.Object)
        {
            throw TypeError(metadata, "metadata", "an object of string values");
        }

        var count = 0;
        foreach (var entry in metadata.EnumerateObject())
        {
            if (++count > MaxMetadataKeys)
            {
                throw OpenAiException.BadRequest($"'metadata' may hold at most {MaxMetadataKeys} keys.", "metadata");
            }

            if (entry.Name.Length > 64)
            {
                throw OpenAiException.BadRequest("'metadata' keys may be at most 64 characters long.", "metadata");
            }

            if (entry.Value.ValueKind != JsonValueKind.String || entry.Value.GetString()!.Length > 512)
            {
                throw OpenAiException.BadRequest($"'metadata.{OpenAiException.Shorten(entry.Name)}' must be a string of at most 512 characters.", "metadata");
            }
        }

        return metadata.Clone();
    }

    private static JsonElement? Present(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value.Clone() : null;

    private static void CopyIfPresent(Utf8JsonWriter json, JsonElement root, string name)
    {
        if (root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null)
        {
            json.WritePropertyName(name);
            value.WriteTo(json);
        }
    }

    private static string RequireString(JsonElement obj, string name, string param)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiException.BadRequest($"Missing required parameter: '{param}.{name}'.", $"{param}.{name}");
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw TypeError(value, $"{param}.{name}", "a string");
    }

    private static string? OptionalString(JsonElement root, string name) => Present(root, name) is { } value
        ? (value.ValueKind == JsonValueKind.String ? value.GetString() : throw TypeError(value, name, "a string"))
        : null;

    private static bool? OptionalBool(JsonElement root, string name) => Present(root, name) is { } value
        ? value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw TypeError(value, name, "a boolean"),
        }
        : null;

    private static double? OptionalNumber(JsonElement root, string name) =>
        Present(root, name) is { ValueKind: JsonValueKind.Number } value && value.TryGetDouble(out var d) ? d : null;

    private static int? OptionalPositiveInt(JsonElement root, string name)
    {
        if (Present(root, name) is not { } value)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var d) || d != Math.Floor(d))
        {
            throw TypeError(value, name, "an integer");
        }

        if (d < 1 || d > int.MaxValue)
        {
            throw OpenAiException.BadRequest($"Invalid value for '{name}': {value.GetRawText()}; it must be at least 1.", name);
        }

        return (int)d;
    }

    private static byte[] WriteArray(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            write(json);
            json.WriteEndArray();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteElements(Utf8JsonWriter json, byte[] array)
    {
        using var doc = JsonDocument.Parse(array);
        foreach (var element in doc.RootElement.EnumerateArray())
        {
            element.WriteTo(json);
        }
    }

    private static OpenAiException TypeError(JsonElement value, string param, string expected) =>
        OpenAiException.BadRequest($"Invalid type for '{param}': expected {expected}, but got {Describe(value)}.", param);

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
