using System.Buffers;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;

namespace Dynamo.Llm.ToolCalling;

/// <summary>
/// The one place that says what a forced tool call looks like for each <see cref="ToolCallFormat"/>: the constraint
/// that <c>tool_choice: "required"</c> or <c>{"type":"function","function":{"name":...}}</c> hands to constrained
/// decoding: the gateway sends it to the worker as the request's <c>response_format</c> (with <c>prefix</c> and
/// <c>suffix</c>), so the engine can only write such a call, and reads the call back with the format's parser.
/// </summary>
public static class ToolCallConstraints
{
    /// <summary>
    /// The constraint for <paramref name="request"/>, or null when its <c>tool_choice</c> forces no call
    /// (<c>none</c>, <c>auto</c>). Hermes: <c>&lt;tool_call&gt;\n</c> + one call object + <c>\n&lt;/tool_call&gt;</c>;
    /// Llama 3 JSON: one <c>{"name", "parameters"}</c> object and nothing around it; Mistral: <c>[TOOL_CALLS]</c> + a
    /// list of one call (up to any number when <c>parallel_tool_calls</c> is true). A call object has the name as a
    /// <c>const</c> and the tool's <c>parameters</c> schema as its arguments (<c>{"type":"object"}</c> when the tool has
    /// none); with <c>required</c> and several tools it is an <c>anyOf</c> over them, with a named function only that one.
    /// </summary>
    public static ToolCallConstraint? For(ParsedRequest request, ToolCallFormat format)
    {
        ArgumentNullException.ThrowIfNull(request);
        var choice = request.ToolChoice;
        if (!choice.ForcesCall)
        {
            return null;
        }

        var tools = choice.Mode == ToolChoiceMode.Function
            ? request.Tools.Where(t => t.Name == choice.FunctionName).ToList()
            : request.Tools;
        var argumentsKey = format == ToolCallFormat.Llama3Json ? "parameters" : "arguments";
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            if (format == ToolCallFormat.Mistral)
            {
                json.WriteStartObject();
                json.WriteString("type", "array");
                json.WritePropertyName("items");
                WriteCalls(json, tools, argumentsKey);
                json.WriteNumber("minItems", 1);
                if (!request.ParallelToolCalls)
                {
                    json.WriteNumber("maxItems", 1);
                }

                json.WriteEndObject();
            }
            else
            {
                WriteCalls(json, tools, argumentsKey);
            }
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        var schema = document.RootElement.Clone();
        return format switch
        {
            ToolCallFormat.Hermes => new ToolCallConstraint("<tool_call>\n", schema, "\n</tool_call>"),
            ToolCallFormat.Mistral => new ToolCallConstraint("[TOOL_CALLS]", schema, ""),
            _ => new ToolCallConstraint("", schema, ""),
        };
    }

    private static void WriteCalls(Utf8JsonWriter json, IReadOnlyList<ToolDefinition> tools, string argumentsKey)
    {
        if (tools.Count == 1)
        {
            WriteCall(json, tools[0], argumentsKey);
            return;
        }

        json.WriteStartObject();
        json.WriteStartArray("anyOf");
        foreach (var tool in tools)
        {
            WriteCall(json, tool, argumentsKey);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteCall(Utf8JsonWriter json, ToolDefinition tool, string argumentsKey)
    {
        json.WriteStartObject();
        json.WriteString("type", "object");
        json.WriteStartObject("properties");
        json.WriteStartObject("name");
        json.WriteString("const", tool.Name);
        json.WriteEndObject();
        json.WritePropertyName(argumentsKey);
        if (tool.Parameters is { } parameters)
        {
            parameters.WriteTo(json);
        }
        else
        {
            json.WriteStartObject();
            json.WriteString("type", "object");
            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteStartArray("required");
        json.WriteStringValue("name");
        json.WriteStringValue(argumentsKey);
        json.WriteEndArray();
        json.WriteBoolean("additionalProperties", false);
        json.WriteEndObject();
    }
}
