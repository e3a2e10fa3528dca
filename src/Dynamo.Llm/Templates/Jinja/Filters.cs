using System.Globalization;
using System.Text;

namespace Dynamo.Llm.Templates.Jinja;

/// <summary>Jinja filters (<c>x | name(args)</c>) that chat templates use.</summary>
internal static class Filters
{
    private delegate object? Filter(RenderContext context, object? value, Arguments args);

    private static readonly Dictionary<string, Filter> s_filters = new(StringComparer.Ordinal)
    {
        ["trim"] = static (_, v, a) => Methods.Strip(Values.ToStr(v), a.Get(0, "chars") as string, start: true, end: true),
        ["length"] = static (_, v, _) => Values.Length(v),
        ["count"] = static (_, v, _) => Values.Length(v),
        ["upper"] = static (_, v, _) => Values.ToStr(v).ToUpperInvariant(),
        ["lower"] = static (_, v, _) => Values.ToStr(v).ToLowerInvariant(),
        ["capitalize"] = static (_, v, _) => Values.ToStr(v) is var s && s.Length > 0 ? string.Concat(s[..1].ToUpperInvariant(), s[1..].ToLowerInvariant()) : string.Empty,
        ["title"] = static (_, v, _) => Methods.Title(Values.ToStr(v)),
        ["string"] = static (_, v, _) => Values.ToStr(v),
        ["safe"] = static (_, v, _) => v,
        ["escape"] = static (_, v, _) => Escape(Values.ToStr(v)),
        ["e"] = static (_, v, _) => Escape(Values.ToStr(v)),
        ["tojson"] = static (_, v, a) => ToJson(v, a),
        ["default"] = static (_, v, a) => Default(v, a),
        ["d"] = static (_, v, a) => Default(v, a),
        ["first"] = static (_, v, _) => Values.Iterate(v) is { Count: > 0 } items ? items[0] : new Undefined("first"),
        ["last"] = static (_, v, _) => Values.Iterate(v) is { Count: > 0 } items ? items[^1] : new Undefined("last"),
        ["join"] = static (_, v, a) => Join(v, a),
        ["list"] = static (_, v, _) => new List<object?>(Values.Iterate(v)),
        ["reverse"] = static (_, v, _) => v is string s ? new string(s.Reverse().ToArray()) : Enumerable.Reverse(Values.Iterate(v)).ToList(),
        ["int"] = static (_, v, a) => ToInt(v, a),
        ["float"] = static (_, v, a) => ToFloat(v, a),
        ["abs"] = static (_, v, _) => v is double d ? Math.Abs(d) : (object)Math.Abs(Values.ToLong(v)),
        ["round"] = static (_, v, a) => Round(v, a),
        ["replace"] = static (_, v, a) => Methods.Replace(Values.ToStr(v), Values.ToStr(a.Get(0, "old")), Values.ToStr(a.Get(1, "new")), a.Get(2, "count") is null or Undefined ? -1 : Values.ToLong(a.Get(2, "count"))),
        ["indent"] = static (_, v, a) => Indent(v, a),
        ["items"] = static (_, v, _) => v switch
        {
            Dictionary<string, object?> dict => dict.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
            Undefined => new List<object?>(),
            _ => throw new JinjaError($"items filter needs a dict, got {Values.TypeName(v)}"),
        },
        ["attr"] = static (_, v, a) => Values.GetAttribute(v, Values.ToStr(a.Get(0, "name"))),
        ["map"] = static (c, v, a) => Map(c, v, a),
        ["select"] = static (_, v, a) => Select(v, a, attribute: false, keep: true),
        ["reject"] = static (_, v, a) => Select(v, a, attribute: false, keep: false),
        ["selectattr"] = static (_, v, a) => Select(v, a, attribute: true, keep: true),
        ["rejectattr"] = static (_, v, a) => Select(v, a, attribute: true, keep: false),
        ["sort"] = static (_, v, a) => Sort(v, a),
        ["unique"] = static (_, v, _) => Unique(v),
        ["sum"] = static (_, v, a) => Sum(v, a),
        ["min"] = static (_, v, a) => MinMax(v, a, max: false),
        ["max"] = static (_, v, a) => MinMax(v, a, max: true),
    };

    public static bool Exists(string name) => s_filters.ContainsKey(name);

    public static object? Apply(RenderContext context, string name, object? value, Arguments args)
    {
        if (!s_filters.TryGetValue(name, out var filter))
        {
            throw new JinjaError($"no filter named '{name}'");
        }

        return filter(context, value, args);
    }

    private static object? Default(object? value, Arguments args)
    {
        var fallback = args.Get(0, "default_value", string.Empty);
        var boolean = Values.IsTrue(args.Get(1, "boolean", false));
        return value is Undefined || (boolean && !Values.IsTrue(value)) ? fallback : value;
    }

    private static string ToJson(object? value, Arguments args)
    {
        args.Expect("tojson", 1, "indent", "separators", "sort_keys", "ensure_ascii");
        var indent = args.Get(0, "indent") switch
        {
            null or Undefined => null,
            long n => new string(' ', (int)Math.Max(0, n)),
            string s => s,
            var other => throw new JinjaError($"tojson indent must be an int or a string, got {Values.TypeName(other)}"),
        };
        var (itemSeparator, keySeparator) = indent is null ? (", ", ": ") : (",", ": ");
        if (args.Get(1, "separators") is List<object?> { Count: 2 } separators)
        {
            itemSeparator = Values.ToStr(separators[0]);
            keySeparator = Values.ToStr(separators[1]);
        }

        return PythonJson.Dumps(value, indent, itemSeparator, keySeparator,
            Values.IsTrue(args.Get(2, "sort_keys", false)), Values.IsTrue(args.Get(3, "ensure_ascii", false)));
    }

    private static string Join(object? value, Arguments args)
    {
        var separator = Values.ToStr(args.Get(0, "d", string.Empty));
        var attribute = args.Get(1, "attribute") as string;
        var items = Values.Iterate(value);
        var sb = new StringBuilder();
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(separator);
            }

            sb.Append(Values.ToStr(attribute is null ? items[i] : Values.GetItem(items[i], attribute)));
        }

        return sb.ToString();
    }

    private static object ToInt(object? value, Arguments args)
    {
        var fallback = args.Get(0, "default", 0L);
        switch (value)
        {
            case long or bool:
                return Values.ToLong(value);
            case double d:
                return double.IsFinite(d) ? (long)d : fallback!;
            case string s:
                var text = s.Trim();
                if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                {
                    return l;
                }

                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) && double.IsFinite(parsed)
                    ? (long)parsed
                    : fallback!;
            default:
                return fallback!;
        }
    }

    private static object ToFloat(object? value, Arguments args)
    {
        var fallback = args.Get(0, "default", 0.0);
        return value switch
        {
            long or bool or double => Values.ToDouble(value),
            string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
            _ => fallback!,
        };
    }

    private static double Round(object? value, Arguments args)
    {
        var precision = (int)Values.ToLong(args.Get(0, "precision", 0L));
        var method = Values.ToStr(args.Get(1, "method", "common"));
        var number = Values.ToDouble(value);
        var scale = Math.Pow(10, precision);
        return method switch
        {
            "common" => Math.Round(number * scale, MidpointRounding.AwayFromZero) / scale,
            "ceil" => Math.Ceiling(number * scale) / scale,
            "floor" => Math.Floor(number * scale) / scale,
            _ => throw new JinjaError("round method must be 'common', 'ceil' or 'floor'"),
        };
    }

    private static string Indent(object? value, Arguments args)
    {
        var width = args.Get(0, "width", 4L) is string w ? w : new string(' ', (int)Values.ToLong(args.Get(0, "width", 4L)));
        var first = Values.IsTrue(args.Get(1, "first", false));
        var blank = Values.IsTrue(args.Get(2, "blank", false));
        var lines = Values.ToStr(value).Split('\n');
        var sb = new StringBuilder();
        for (var i = 0; i < lines.Length; i++)
        {
            if (i > 0)
            {
                sb.Append('\n');
            }

            if ((i > 0 || first) && (blank || lines[i].Length > 0))
            {
                sb.Append(width);
            }

            sb.Append(lines[i]);
        }

        return sb.ToString();
    }

    private static List<object?> Map(RenderContext context, object? value, Arguments args)
    {
        var items = Values.Iterate(value);
        if (args.Named is not null && args.Named.TryGetValue("attribute", out var attribute))
        {
            var fallback = args.Named.TryGetValue("default", out var d) ? d : null;
            var hasDefault = args.Named.ContainsKey("default");
            return items.Select(item =>
            {
                var result = Values.GetItem(item, attribute);
                return result is Undefined && hasDefault ? fallback : result;
            }).ToList();
        }

        if (args.Positional.Length == 0 || args.Positional[0] is not string filter)
        {
            throw new JinjaError("map() needs a filter name or attribute=");
        }

        var rest = new Arguments(args.Positional[1..], args.Named);
        return items.Select(item => Apply(context, filter, item, rest)).ToList();
    }

    private static List<object?> Select(object? value, Arguments args, bool attribute, bool keep)
    {
        var items = Values.Iterate(value);
        var p = args.Positional;
        var offset = attribute ? 1 : 0;
        var attributeName = attribute ? (p.Length > 0 ? Values.ToStr(p[0]) : throw new JinjaError("selectattr() needs an attribute name")) : null;
        var test = p.Length > offset ? Values.ToStr(p[offset]) : null;
        var testArgs = new Arguments(p.Length > offset + 1 ? p[(offset + 1)..] : [], args.Named);
        var result = new List<object?>();
        foreach (var item in items)
        {
            var subject = attributeName is null ? item : Values.GetItem(item, attributeName);
            var passed = test is null ? Values.IsTrue(subject) : TestFunctions.Run(test, subject, testArgs);
            if (passed == keep)
            {
                result.Add(item);
            }
        }

        return result;
    }

    private static List<object?> Sort(object? value, Arguments args)
    {
        var reverse = Values.IsTrue(args.Get(0, "reverse", false));
        var caseSensitive = Values.IsTrue(args.Get(1, "case_sensitive", false));
        var attribute = args.Get(2, "attribute") as string;
        object? Key(object? item)
        {
            var key = attribute is null ? item : Values.GetItem(item, attribute);
            return !caseSensitive && key is string s ? s.ToLowerInvariant() : key;
        }

        var sorted = Values.Iterate(value).Select(item => (Key: Key(item), Item: item)).ToList();

        // List.Sort is not stable; Python's sort is, and templates may rely on it.
        var ordered = sorted.Select((entry, index) => (entry.Key, entry.Item, Index: index)).ToList();
        ordered.Sort((a, b) =>
        {
            var c = Values.Compare(a.Key, b.Key);
            return c != 0 ? (reverse ? -c : c) : a.Index.CompareTo(b.Index);
        });
        return ordered.Select(e => e.Item).ToList();
    }

    private static List<object?> Unique(object? value)
    {
        var result = new List<object?>();
        foreach (var item in Values.Iterate(value))
        {
            if (!result.Any(existing => Values.AreEqual(existing, item)))
            {
                result.Add(item);
            }
        }

        return result;
    }

    private static object? Sum(object? value, Arguments args)
    {
        var attribute = args.Get(0, "attribute") as string;
        object? total = args.Get(1, "start", 0L);
        foreach (var item in Values.Iterate(value))
        {
            total = Values.Add(total, attribute is null ? item : Values.GetItem(item, attribute));
        }

        return total;
    }

    private static object? MinMax(object? value, Arguments args, bool max)
    {
        var caseSensitive = Values.IsTrue(args.Get(0, "case_sensitive", false));
        var attribute = args.Get(1, "attribute") as string;
        var items = Values.Iterate(value);
        if (items.Count == 0)
        {
            return new Undefined(max ? "max" : "min");
        }

        object? Key(object? item)
        {
            var key = attribute is null ? item : Values.GetItem(item, attribute);
            return !caseSensitive && key is string s ? s.ToLowerInvariant() : key;
        }

        var best = items[0];
        foreach (var item in items.Skip(1))
        {
            var c = Values.Compare(Key(item), Key(best));
            if (max ? c > 0 : c < 0)
            {
                best = item;
            }
        }

        return best;
    }

    private static string Escape(string s) => s
        .Replace("&", "&amp;", StringComparison.Ordinal)
        .Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal)
        .Replace("\"", "&#34;", StringComparison.Ordinal)
        .Replace("'", "&#39;", StringComparison.Ordinal);
}
