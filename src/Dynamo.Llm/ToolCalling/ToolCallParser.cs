using System.Text;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;

namespace Dynamo.Llm.ToolCalling;

/// <summary>Splits a whole (non-streamed) answer into content and tool calls.</summary>
public static class ToolCallParser
{
    /// <summary>
    /// Reads <paramref name="text"/> with the same rules as <see cref="ToolCallStreamParser"/>. When the answer has
    /// something that looks like a call but is not a well-formed one (a cut-off call, an object without a name,
    /// arguments that are not a JSON object), no calls are returned and the whole text is the content, as generated.
    /// </summary>
    /// <param name="format">The model family's format.</param>
    /// <param name="text">The whole answer.</param>
    /// <param name="parallelToolCalls">False keeps the first call only.</param>
    public static ToolCallParseResult Parse(ToolCallFormat format, string text, bool parallelToolCalls = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parser = new ToolCallStreamParser(format, parallelToolCalls);
        var deltas = new List<ToolCallDelta>();
        parser.Append(text, deltas);
        parser.Finish(deltas);
        if (parser.Malformed || parser.CallCount == 0)
        {
            return new ToolCallParseResult(text, []);
        }

        var content = new StringBuilder();
        var ids = new string[parser.CallCount];
        var names = new string[parser.CallCount];
        var arguments = new StringBuilder[parser.CallCount];
        foreach (var delta in deltas)
        {
            if (delta.IsContent)
            {
                content.Append(delta.Content);
                continue;
            }

            if (delta.Id is not null)
            {
                ids[delta.Index] = delta.Id;
                names[delta.Index] = delta.Name!;
                arguments[delta.Index] = new StringBuilder();
            }

            arguments[delta.Index].Append(delta.Arguments);
        }

        var calls = new List<ToolCall>(ids.Length);
        for (var i = 0; i < ids.Length; i++)
        {
            var json = arguments[i].ToString();
            if (!IsJsonObject(json))
            {
                return new ToolCallParseResult(text, []);
            }

            calls.Add(new ToolCall(ids[i], names[i], json));
        }

        var trimmed = content.ToString().Trim();
        return new ToolCallParseResult(trimmed.Length == 0 ? null : trimmed, calls);
    }

    private static bool IsJsonObject(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.ValueKind == JsonValueKind.Object;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
