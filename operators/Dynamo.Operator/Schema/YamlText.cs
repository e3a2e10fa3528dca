using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Dynamo.Operator.Schema;

/// <summary>
/// Writes a JSON document as block-style YAML, deterministically (key order kept, strings that could read as
/// anything else double-quoted in JSON syntax, which YAML accepts). Used for the checked-in CRDs and golden files.
/// </summary>
public static partial class YamlText
{
    private static readonly JsonSerializerOptions Quoting = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Write(JsonNode? node)
    {
        var text = new StringBuilder();
        WriteBlock(text, node, 0);
        return text.ToString();
    }

    private static void WriteBlock(StringBuilder text, JsonNode? node, int indent)
    {
        switch (node)
        {
            case JsonObject obj when obj.Count > 0:
                foreach (var (key, value) in obj)
                {
                    text.Append(' ', indent).Append(Scalar(key)).Append(':');
                    WriteValue(text, value, indent);
                }

                break;
            case JsonArray array when array.Count > 0:
                foreach (var item in array)
                {
                    text.Append(' ', indent).Append('-');
                    if (item is JsonObject itemObject && itemObject.Count > 0)
                    {
                        // The first key on the dash's line, the rest aligned under it.
                        var inner = new StringBuilder();
                        WriteBlock(inner, item, indent + 2);
                        text.Append(' ').Append(inner.ToString(indent + 2, inner.Length - indent - 2));
                    }
                    else
                    {
                        WriteValue(text, item, indent);
                    }
                }

                break;
            default:
                text.Append(Inline(node)).Append('\n');
                break;
        }
    }

    private static void WriteValue(StringBuilder text, JsonNode? value, int indent)
    {
        switch (value)
        {
            case JsonObject obj when obj.Count > 0:
                text.Append('\n');
                WriteBlock(text, obj, indent + 2);
                break;
            case JsonArray array when array.Count > 0:
                text.Append('\n');
                WriteBlock(text, array, indent + 2);
                break;
            default:
                text.Append(' ').Append(Inline(value)).Append('\n');
                break;
        }
    }

    private static string Inline(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "{}",
        JsonArray => "[]",
        JsonValue value when value.GetValueKind() == JsonValueKind.String => Scalar(value.GetValue<string>()),
        JsonValue value when value.GetValueKind() is JsonValueKind.True => "true",
        JsonValue value when value.GetValueKind() is JsonValueKind.False => "false",
        _ => node.ToJsonString(),
    };

    private static string Scalar(string text) =>
        PlainSafe().IsMatch(text) && !LooksLikeOther(text)
            ? text
            : JsonSerializer.Serialize(text, Quoting);

    private static bool LooksLikeOther(string text) =>
        text.ToLowerInvariant() is "true" or "false" or "yes" or "no" or "on" or "off" or "null" or "y" or "n" or "~"
        || double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
        || text.EndsWith(' ');

    [GeneratedRegex(@"^[A-Za-z_/][A-Za-z0-9_./()\- ,]*$")]
    private static partial Regex PlainSafe();
}
