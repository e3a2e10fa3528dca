using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Dynamo.Llm.Templates.Jinja;

/// <summary>
/// Python semantics for the interpreter's values: <c>null</c> (None), <see cref="Undefined"/>, <see cref="bool"/>,
/// <see cref="long"/>, <see cref="double"/>, <see cref="string"/>, <c>List&lt;object?&gt;</c> (list and tuple),
/// <c>Dictionary&lt;string, object?&gt;</c> (dict, insertion-ordered), <see cref="Namespace"/>,
/// <see cref="LoopContext"/> and <see cref="Callable"/>.
/// </summary>
internal static class Values
{
    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        Undefined => "undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        Dictionary<string, object?> => "dict",
        Namespace => "Namespace",
        LoopContext => "LoopContext",
        Callable => "function",
        _ => value.GetType().Name,
    };

    public static bool IsTrue(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        Dictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    /// <summary>Python's <c>str()</c>, with undefined as empty (what <c>{{ }}</c> prints).</summary>
    public static string ToStr(object? value) => value switch
    {
        string s => s,
        Undefined => string.Empty,
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatFloat(d),
        _ => Repr(value),
    };

    /// <summary>Python's <c>repr()</c>, used for items inside printed lists and dicts.</summary>
    public static string Repr(object? value)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, value);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case string s:
                var quote = s.Contains('\'', StringComparison.Ordinal) && !s.Contains('"', StringComparison.Ordinal) ? '"' : '\'';
                sb.Append(quote);
                foreach (var c in s)
                {
                    _ = c switch
                    {
                        '\\' => sb.Append("\\\\"),
                        '\n' => sb.Append("\\n"),
                        '\r' => sb.Append("\\r"),
                        '\t' => sb.Append("\\t"),
                        _ when c == quote => sb.Append('\\').Append(c),
                        _ when c < ' ' || c == '\x7f' => sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture)),
                        _ => sb.Append(c),
                    };
                }

                sb.Append(quote);
                break;
            case List<object?> list:
                sb.Append('[');
                for (var i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    AppendRepr(sb, list[i]);
                }

                sb.Append(']');
                break;
            case Dictionary<string, object?> dict:
                sb.Append('{');
                var first = true;
                foreach (var (key, item) in dict)
                {
                    if (!first)
                    {
                        sb.Append(", ");
                    }

                    first = false;
                    AppendRepr(sb, key);
                    sb.Append(": ");
                    AppendRepr(sb, item);
                }

                sb.Append('}');
                break;
            case Namespace ns:
                sb.Append("<Namespace ");
                AppendRepr(sb, ns.Attributes);
                sb.Append('>');
                break;
            case Callable callable:
                sb.Append("<function ").Append(callable.Name).Append('>');
                break;
            case Undefined:
                sb.Append("Undefined");
                break;
            default:
                sb.Append(ToStr(value));
                break;
        }
    }

    /// <summary>Python's float repr: shortest round-trip digits, always with a '.' or an exponent.</summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d))
        {
            return "nan";
        }

        if (double.IsInfinity(d))
        {
            return d > 0 ? "inf" : "-inf";
        }

        if (d == Math.Floor(d) && Math.Abs(d) < 1e16)
        {
            return d.ToString("0.0", CultureInfo.InvariantCulture);
        }

        var text = d.ToString("R", CultureInfo.InvariantCulture);
        var e = text.IndexOf('E', StringComparison.Ordinal);
        if (e < 0)
        {
            return text;
        }

        // .NET writes 1E-05 / 1E+16; Python writes 1e-05 / 1e+16.
        var mantissa = text[..e];
        var exponent = int.Parse(text.AsSpan(e + 1), CultureInfo.InvariantCulture);
        return string.Concat(mantissa, "e", exponent < 0 ? "-" : "+", Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture));
    }

    public static bool AreEqual(object? a, object? b)
    {
        switch (a)
        {
            case null:
                return b is null;
            case Undefined:
                return b is Undefined;
            case string sa:
                return b is string sb && string.Equals(sa, sb, StringComparison.Ordinal);
            case List<object?> la:
                if (b is not List<object?> lb || la.Count != lb.Count)
                {
                    return false;
                }

                for (var i = 0; i < la.Count; i++)
                {
                    if (!AreEqual(la[i], lb[i]))
                    {
                        return false;
                    }
                }

                return true;
            case Dictionary<string, object?> da:
                if (b is not Dictionary<string, object?> db || da.Count != db.Count)
                {
                    return false;
                }

                foreach (var (key, value) in da)
                {
                    if (!db.TryGetValue(key, out var other) || !AreEqual(value, other))
                    {
                        return false;
                    }
                }

                return true;
        }

        if (IsNumber(a) && IsNumber(b))
        {
            return a is double || b is double ? ToDouble(a) == ToDouble(b) : ToLong(a) == ToLong(b);
        }

        return ReferenceEquals(a, b);
    }

    /// <summary>Ordering for &lt; &gt; &lt;= &gt;=, sort, min and max.</summary>
    public static int Compare(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            return a is double || b is double ? ToDouble(a).CompareTo(ToDouble(b)) : ToLong(a).CompareTo(ToLong(b));
        }

        if (a is string sa && b is string sb)
        {
            return string.CompareOrdinal(sa, sb);
        }

        if (a is List<object?> la && b is List<object?> lb)
        {
            for (var i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                if (!AreEqual(la[i], lb[i]))
                {
                    return Compare(la[i], lb[i]);
                }
            }

            return la.Count.CompareTo(lb.Count);
        }

        throw new JinjaError($"'<' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static long ToLong(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => throw new JinjaError($"expected a number, got '{TypeName(value)}'"),
    };

    public static double ToDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new JinjaError($"expected a number, got '{TypeName(value)}'"),
    };

    public static object? Add(object? a, object? b)
    {
        ThrowIfUndefined(a, b);
        if (a is string sa && b is string sb)
        {
            return string.Concat(sa, sb);
        }

        if (a is List<object?> la && b is List<object?> lb)
        {
            var result = new List<object?>(la.Count + lb.Count);
            result.AddRange(la);
            result.AddRange(lb);
            return result;
        }

        if (IsNumber(a) && IsNumber(b))
        {
            return a is double || b is double ? ToDouble(a) + ToDouble(b) : (object)checked(ToLong(a) + ToLong(b));
        }

        throw Unsupported("+", a, b);
    }

    public static object? Arithmetic(string op, object? a, object? b)
    {
        ThrowIfUndefined(a, b);
        if (op == "*")
        {
            if (a is string s && b is long or bool)
            {
                return Repeat(s, ToLong(b));
            }

            if (b is string s2 && a is long or bool)
            {
                return Repeat(s2, ToLong(a));
            }

            if (a is List<object?> list && b is long or bool)
            {
                var result = new List<object?>();
                for (var i = 0L; i < ToLong(b); i++)
                {
                    result.AddRange(list);
                }

                return result;
            }
        }

        if (!IsNumber(a) || !IsNumber(b))
        {
            throw Unsupported(op, a, b);
        }

        var useDouble = a is double || b is double;
        switch (op)
        {
            case "-":
                return useDouble ? ToDouble(a) - ToDouble(b) : (object)checked(ToLong(a) - ToLong(b));
            case "*":
                return useDouble ? ToDouble(a) * ToDouble(b) : (object)checked(ToLong(a) * ToLong(b));
            case "/":
                var divisor = ToDouble(b);
                return divisor == 0 ? throw new JinjaError("division by zero") : ToDouble(a) / divisor;
            case "//":
                if (useDouble)
                {
                    var db = ToDouble(b);
                    return db == 0 ? throw new JinjaError("division by zero") : Math.Floor(ToDouble(a) / db);
                }
                else
                {
                    var (x, y) = (ToLong(a), ToLong(b));
                    if (y == 0)
                    {
                        throw new JinjaError("division by zero");
                    }

                    var q = x / y;
                    return (object)((x % y != 0) && ((x < 0) != (y < 0)) ? q - 1 : q);
                }

            case "%":
                if (useDouble)
                {
                    var (x, y) = (ToDouble(a), ToDouble(b));
                    if (y == 0)
                    {
                        throw new JinjaError("modulo by zero");
                    }

                    var r = x % y;
                    return r != 0 && (r < 0) != (y < 0) ? r + y : r;
                }
                else
                {
                    var (x, y) = (ToLong(a), ToLong(b));
                    if (y == 0)
                    {
                        throw new JinjaError("modulo by zero");
                    }

                    var r = x % y;
                    return r != 0 && (r < 0) != (y < 0) ? r + y : r;
                }

            case "**":
                if (!useDouble && ToLong(b) >= 0)
                {
                    var (x, n) = (ToLong(a), ToLong(b));
                    var result = 1L;
                    for (var i = 0L; i < n; i++)
                    {
                        result = checked(result * x);
                    }

                    return result;
                }

                return Math.Pow(ToDouble(a), ToDouble(b));
            default:
                throw new JinjaError($"unknown operator '{op}'");
        }
    }

    public static object? Negate(object? value)
    {
        ThrowIfUndefined(value, null);
        return value switch
        {
            long l => (object)checked(-l),
            double d => -d,
            bool b => b ? -1L : 0L,
            _ => throw new JinjaError($"bad operand type for unary -: '{TypeName(value)}'"),
        };
    }

    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string s:
                return item is string sub
                    ? s.Contains(sub, StringComparison.Ordinal)
                    : throw new JinjaError($"'in <string>' requires string as left operand, not {TypeName(item)}");
            case List<object?> list:
                foreach (var element in list)
                {
                    if (AreEqual(element, item))
                    {
                        return true;
                    }
                }

                return false;
            case Dictionary<string, object?> dict:
                return item is string key && dict.ContainsKey(key);
            case Namespace ns:
                return item is string name && ns.Attributes.ContainsKey(name);
            case Undefined:
                return false;
            default:
                throw new JinjaError($"argument of type '{TypeName(container)}' is not iterable");
        }
    }

    /// <summary><c>obj.name</c>: Python attribute first (methods), then item, as Jinja's getattr.</summary>
    public static object? GetAttribute(object? obj, string name)
    {
        switch (obj)
        {
            case Undefined undefined:
                throw undefined.Error();
            case Dictionary<string, object?> dict:
                if (Methods.IsMethod(obj, name))
                {
                    return new BoundMethod(obj, name);
                }

                return dict.TryGetValue(name, out var value) ? value : new Undefined(name);
            case Namespace ns:
                return ns.Attributes.TryGetValue(name, out var attribute) ? attribute : new Undefined(name);
            case LoopContext loop:
                return loop.GetAttribute(name);
            default:
                return Methods.IsMethod(obj, name) ? new BoundMethod(obj, name) : new Undefined(name);
        }
    }

    /// <summary><c>obj[key]</c>: item first, then attribute, as Jinja's getitem; out of range is undefined.</summary>
    public static object? GetItem(object? obj, object? key)
    {
        switch (obj)
        {
            case Undefined undefined:
                throw undefined.Error();
            case Dictionary<string, object?> dict when key is string name:
                return dict.TryGetValue(name, out var value) ? value : new Undefined(name);
            case List<object?> list when key is long or bool:
                var index = ToLong(key);
                if (index < 0)
                {
                    index += list.Count;
                }

                return index >= 0 && index < list.Count ? list[(int)index] : new Undefined($"[{key}]");
            case string s when key is long or bool:
                var position = ToLong(key);
                if (position < 0)
                {
                    position += s.Length;
                }

                return position >= 0 && position < s.Length ? s[(int)position].ToString() : new Undefined($"[{key}]");
        }

        return key is string attribute ? GetAttribute(obj, attribute) : new Undefined($"[{ToStr(key)}]");
    }

    /// <summary>Python slicing of a list or string.</summary>
    public static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        var stepValue = step is null or Undefined ? 1 : ToLong(step);
        if (stepValue == 0)
        {
            throw new JinjaError("slice step cannot be zero");
        }

        int length;
        switch (obj)
        {
            case List<object?> list:
                length = list.Count;
                break;
            case string s:
                length = s.Length;
                break;
            case Undefined undefined:
                throw undefined.Error();
            default:
                throw new JinjaError($"'{TypeName(obj)}' object is not subscriptable");
        }

        long Clamp(object? bound, long fallback, long low, long high)
        {
            if (bound is null or Undefined)
            {
                return fallback;
            }

            var v = ToLong(bound);
            if (v < 0)
            {
                v += length;
            }

            return Math.Clamp(v, low, high);
        }

        long from, to;
        if (stepValue > 0)
        {
            from = Clamp(start, 0, 0, length);
            to = Clamp(stop, length, 0, length);
        }
        else
        {
            from = Clamp(start, length - 1, -1, length - 1);
            to = Clamp(stop, -1, -1, length - 1);
            if (stop is not null and not Undefined && ToLong(stop) < -length)
            {
                to = -1;
            }
        }

        var indices = new List<int>();
        for (var i = from; stepValue > 0 ? i < to : i > to; i += stepValue)
        {
            indices.Add((int)i);
        }

        if (obj is string text)
        {
            if (stepValue == 1)
            {
                return indices.Count == 0 ? string.Empty : text.Substring(indices[0], indices.Count);
            }

            var sb = new StringBuilder(indices.Count);
            foreach (var i in indices)
            {
                sb.Append(text[i]);
            }

            return sb.ToString();
        }

        var source = (List<object?>)obj!;
        var result = new List<object?>(indices.Count);
        foreach (var i in indices)
        {
            result.Add(source[i]);
        }

        return result;
    }

    /// <summary>The items a for loop or filter iterates: list items, dict keys, string characters.</summary>
    public static List<object?> Iterate(object? value)
    {
        switch (value)
        {
            case List<object?> list:
                return list;
            case Dictionary<string, object?> dict:
                return [.. dict.Keys];
            case string s:
                var chars = new List<object?>(s.Length);
                foreach (var c in s)
                {
                    chars.Add(c.ToString());
                }

                return chars;
            case Undefined:
                return [];
            default:
                throw new JinjaError($"'{TypeName(value)}' object is not iterable");
        }
    }

    public static long Length(object? value) => value switch
    {
        string s => s.Length,
        List<object?> list => list.Count,
        Dictionary<string, object?> dict => dict.Count,
        Namespace ns => ns.Attributes.Count,
        Undefined => 0,
        _ => throw new JinjaError($"object of type '{TypeName(value)}' has no len()"),
    };

    /// <summary>Converts a .NET value handed to the template (variables, messages, JSON) into an interpreter value.</summary>
    public static object? FromClr(object? value)
    {
        switch (value)
        {
            case null:
                return null;
            case string or bool or long or double or Undefined or Namespace or Callable:
                return value;
            case int i:
                return (long)i;
            case short or byte or sbyte or ushort or uint:
                return Convert.ToInt64(value, CultureInfo.InvariantCulture);
            case float f:
                return (double)f;
            case decimal m:
                return (double)m;
            case JsonElement element:
                return FromJson(element);
            case List<object?> list:
                return list;
            case Dictionary<string, object?> dict:
                return dict;
            case IDictionary dictionary:
                var converted = new Dictionary<string, object?>(dictionary.Count, StringComparer.Ordinal);
                foreach (DictionaryEntry entry in dictionary)
                {
                    converted[Convert.ToString(entry.Key, CultureInfo.InvariantCulture)!] = FromClr(entry.Value);
                }

                return converted;
            case IEnumerable enumerable:
                var items = new List<object?>();
                foreach (var item in enumerable)
                {
                    items.Add(FromClr(item));
                }

                return items;
            default:
                throw new ArgumentException($"A template variable of type {value.GetType().Name} is not supported.", nameof(value));
        }
    }

    private static object? FromJson(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return element.GetString();
            case JsonValueKind.Number:
                return element.TryGetInt64(out var l) ? l : element.GetDouble();
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            case JsonValueKind.Array:
                var list = new List<object?>(element.GetArrayLength());
                foreach (var item in element.EnumerateArray())
                {
                    list.Add(FromJson(item));
                }

                return list;
            case JsonValueKind.Object:
                var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    dict[property.Name] = FromJson(property.Value);
                }

                return dict;
            default:
                return null;
        }
    }

    private static string Repeat(string s, long count)
    {
        if (count <= 0 || s.Length == 0)
        {
            return string.Empty;
        }

        if (count * s.Length > 1 << 24)
        {
            throw new JinjaError("string repetition result is too large");
        }

        return new StringBuilder(s.Length * (int)count).Insert(0, s, (int)count).ToString();
    }

    private static void ThrowIfUndefined(object? a, object? b)
    {
        if (a is Undefined ua)
        {
            throw ua.Error();
        }

        if (b is Undefined ub)
        {
            throw ub.Error();
        }
    }

    private static JinjaError Unsupported(string op, object? a, object? b)
    {
        if (op == "+" && a is string)
        {
            return new JinjaError($"can only concatenate str (not \"{TypeName(b)}\") to str");
        }

        return new JinjaError($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");
    }
}
