using System.Globalization;
using System.Text;

namespace Dynamo.Llm.Templates.Jinja;

/// <summary>
/// <c>json.dumps</c> as Hugging Face's <c>tojson</c> filter calls it (<c>ensure_ascii=False</c> unless asked): Python's
/// separators (", " and ": ", or "," with an indent), escapes and float formatting, so that rendered tool schemas
/// match the text the model was trained on.
/// </summary>
internal static class PythonJson
{
    public static string Dumps(object? value, string? indent, string itemSeparator, string keySeparator, bool sortKeys, bool ensureAscii)
    {
        var sb = new StringBuilder();
        Write(sb, value, indent, itemSeparator, keySeparator, sortKeys, ensureAscii, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object? value, string? indent, string itemSep, string keySep, bool sortKeys, bool ascii, int level)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case long l:
                sb.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : Values.FormatFloat(d));
                break;
            case string s:
                WriteString(sb, s, ascii);
                break;
            case List<object?> list:
                if (list.Count == 0)
                {
                    sb.Append("[]");
                    break;
                }

                sb.Append('[');
                for (var i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(itemSep);
                    }

                    NewLine(sb, indent, level + 1);
                    Write(sb, list[i], indent, itemSep, keySep, sortKeys, ascii, level + 1);
                }

                NewLine(sb, indent, level);
                sb.Append(']');
                break;
            case Dictionary<string, object?> dict:
                WriteObject(sb, dict, indent, itemSep, keySep, sortKeys, ascii, level);
                break;
            case Namespace ns:
                WriteObject(sb, ns.Attributes, indent, itemSep, keySep, sortKeys, ascii, level);
                break;
            default:
                throw new JinjaError($"Object of type {Values.TypeName(value)} is not JSON serializable");
        }
    }

    private static void WriteObject(StringBuilder sb, Dictionary<string, object?> dict, string? indent, string itemSep, string keySep, bool sortKeys, bool ascii, int level)
    {
        if (dict.Count == 0)
        {
            sb.Append("{}");
            return;
        }

        IEnumerable<KeyValuePair<string, object?>> entries = sortKeys ? dict.OrderBy(kv => kv.Key, StringComparer.Ordinal) : dict;
        sb.Append('{');
        var first = true;
        foreach (var (key, item) in entries)
        {
            if (!first)
            {
                sb.Append(itemSep);
            }

            first = false;
            NewLine(sb, indent, level + 1);
            WriteString(sb, key, ascii);
            sb.Append(keySep);
            Write(sb, item, indent, itemSep, keySep, sortKeys, ascii, level + 1);
        }

        NewLine(sb, indent, level);
        sb.Append('}');
    }

    private static void NewLine(StringBuilder sb, string? indent, int level)
    {
        if (indent is null)
        {
            return;
        }

        sb.Append('\n');
        for (var i = 0; i < level; i++)
        {
            sb.Append(indent);
        }
    }

    private static void WriteString(StringBuilder sb, string s, bool ascii)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < ' ' || (ascii && c > '~'))
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }
}
