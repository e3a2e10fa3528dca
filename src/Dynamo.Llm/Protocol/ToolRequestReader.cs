using System.Text.Json;
using Dynamo.Contracts.OpenAi;

namespace Dynamo.Llm.Protocol;

/// <summary>
/// Validates the tool-calling parts of a chat request: <c>tools</c>, <c>tool_choice</c> and an assistant message's
/// <c>tool_calls</c>. They are read as a <see cref="JsonElement"/> (their parameters are JSON schemas the chat template
/// receives whole), then checked field by field; every refusal is a 400 whose <c>param</c> names the field
/// (<c>tools[0].function.name</c>, <c>messages[2].tool_calls[0].id</c>, ...).
/// </summary>
internal static class ToolRequestReader
{
    /// <summary>OpenAI's limit on the tools of one request.</summary>
    public const int MaxTools = 128;

    /// <summary>OpenAI's limit on a function name's length.</summary>
    public const int MaxNameLength = 64;

    public static List<ToolDefinition> ReadTools(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw TypeError("tools", "an array of tools", value);
        }

        var tools = new List<ToolDefinition>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tool in value.EnumerateArray())
        {
            var param = $"tools[{tools.Count}]";
            if (tools.Count >= MaxTools)
            {
                throw OpenAiException.BadRequest($"'tools' may hold at most {MaxTools} tools.", "tools");
            }

            if (tool.ValueKind != JsonValueKind.Object)
            {
                throw TypeError(param, "a tool object", tool);
            }

            if (!tool.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                throw OpenAiException.BadRequest($"Missing required parameter: '{param}.type' (\"function\").", $"{param}.type");
            }

            if (type.GetString() != "function")
            {
                throw OpenAiException.BadRequest(
                    $"Invalid value for '{param}.type': '{OpenAiException.Shorten(type.GetString())}' is not supported; only 'function' tools are.", $"{param}.type");
            }

            if (!tool.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiException.BadRequest($"Missing required parameter: '{param}.function' (an object).", $"{param}.function");
            }

            var name = ReadName(function, $"{param}.function.name");
            if (!names.Add(name))
            {
                throw OpenAiException.BadRequest($"Invalid value for '{param}.function.name': '{name}' is the name of an earlier tool too.", $"{param}.function.name");
            }

            string? description = null;
            if (function.TryGetProperty("description", out var d) && d.ValueKind != JsonValueKind.Null)
            {
                description = d.ValueKind == JsonValueKind.String ? d.GetString() : throw TypeError($"{param}.function.description", "a string", d);
            }

            JsonElement? parameters = null;
            if (function.TryGetProperty("parameters", out var p) && p.ValueKind != JsonValueKind.Null)
            {
                parameters = p.ValueKind == JsonValueKind.Object ? p : throw TypeError($"{param}.function.parameters", "a JSON schema object", p);
            }

            if (function.TryGetProperty("strict", out var strict) && strict.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
            {
                throw TypeError($"{param}.function.strict", "a boolean", strict);
            }

            tools.Add(new ToolDefinition(name, description, parameters, tool));
        }

        return tools;
    }

    public static ToolChoice ReadToolChoice(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.String)
        {
            return value.GetString() switch
            {
                "none" => ToolChoice.None,
                "auto" => ToolChoice.Auto,
                "required" => ToolChoice.Required,
                var other => throw OpenAiException.BadRequest(
                    $"Invalid value for 'tool_choice': '{OpenAiException.Shorten(other)}' is not supported; expected 'none', 'auto', 'required' or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}.",
                    "tool_choice"),
            };
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw TypeError("tool_choice", "a string or an object", value);
        }

        if (!value.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "function")
        {
            throw OpenAiException.BadRequest(
                "Invalid value for 'tool_choice': an object must be {\"type\": \"function\", \"function\": {\"name\": ...}}.", "tool_choice.type");
        }

        if (!value.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
        {
            throw OpenAiException.BadRequest("Missing required parameter: 'tool_choice.function' (an object with the function's name).", "tool_choice.function");
        }

        return new ToolChoice(ToolChoiceMode.Function, ReadName(function, "tool_choice.function.name"));
    }

    /// <summary>The effective <c>tool_choice</c> once the whole body is read: OpenAI's defaults, and one that forces a
    /// call must have tools to call (a named one among them).</summary>
    public static ToolChoice Resolve(ToolChoice? choice, IReadOnlyList<ToolDefinition> tools)
    {
        if (choice is null)
        {
            return tools.Count > 0 ? ToolChoice.Auto : ToolChoice.None;
        }

        if (choice.ForcesCall && tools.Count == 0)
        {
            throw OpenAiException.BadRequest("Invalid value for 'tool_choice': it asks for a tool call but the request has no 'tools'.", "tool_choice");
        }

        if (choice.Mode == ToolChoiceMode.Function && !tools.Any(t => t.Name == choice.FunctionName))
        {
            throw OpenAiException.BadRequest(
                $"Invalid value for 'tool_choice': no tool named '{choice.FunctionName}' is in 'tools'.", "tool_choice.function.name");
        }

        return choice;
    }

    public static List<ToolCall> ReadToolCalls(JsonElement value, string param)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw TypeError(param, "an array of tool calls", value);
        }

        var calls = new List<ToolCall>();
        foreach (var call in value.EnumerateArray())
        {
            var at = $"{param}[{calls.Count}]";
            if (call.ValueKind != JsonValueKind.Object)
            {
                throw TypeError(at, "a tool call object", call);
            }

            if (!call.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String)
            {
                throw OpenAiException.BadRequest($"Missing required parameter: '{at}.id'.", $"{at}.id");
            }

            if (call.TryGetProperty("type", out var type) && type.ValueKind != JsonValueKind.Null && !(type.ValueKind == JsonValueKind.String && type.GetString() == "function"))
            {
                throw OpenAiException.BadRequest($"Invalid value for '{at}.type': only 'function' calls are supported.", $"{at}.type");
            }

            if (!call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiException.BadRequest($"Missing required parameter: '{at}.function' (an object with name and arguments).", $"{at}.function");
            }

            if (!function.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String || name.GetString()!.Length == 0)
            {
                throw OpenAiException.BadRequest($"Missing required parameter: '{at}.function.name' (a non-empty string).", $"{at}.function.name");
            }

            // OpenAI sends the arguments as JSON text; some clients send the object itself, kept as its JSON text.
            var arguments = function.TryGetProperty("arguments", out var a) ? a.ValueKind switch
            {
                JsonValueKind.String => a.GetString()!,
                JsonValueKind.Object => a.GetRawText(),
                JsonValueKind.Null => "{}",
                _ => throw TypeError($"{at}.function.arguments", "a string of JSON", a),
            } : throw OpenAiException.BadRequest($"Missing required parameter: '{at}.function.arguments'.", $"{at}.function.arguments");
            calls.Add(new ToolCall(id.GetString()!, name.GetString()!, arguments));
        }

        return calls;
    }

    private static string ReadName(JsonElement function, string param)
    {
        if (!function.TryGetProperty("name", out var name) || name.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiException.BadRequest($"Missing required parameter: '{param}'.", param);
        }

        if (name.ValueKind != JsonValueKind.String)
        {
            throw TypeError(param, "a string", name);
        }

        var text = name.GetString()!;
        if (text.Length is 0 or > MaxNameLength || !text.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
        {
            throw OpenAiException.BadRequest(
                $"Invalid value for '{param}': '{OpenAiException.Shorten(text)}' must be 1 to {MaxNameLength} letters, digits, underscores or dashes.", param);
        }

        return text;
    }

    private static OpenAiException TypeError(string param, string expected, JsonElement got) =>
        OpenAiException.BadRequest($"Invalid type for '{param}': expected {expected}, but got {Describe(got)}.", param);

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        _ => "nothing",
    };
}
