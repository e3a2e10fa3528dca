using System.Text;

namespace Dynamo.Llm.Templates.Jinja;

/// <summary>
/// The Python methods templates call on strings (<c>.strip()</c>, <c>.startswith()</c>, <c>.split()</c>, ...) and
/// dicts (<c>.items()</c>, <c>.get()</c>, ...). Mutating methods are absent, as in Hugging Face's immutable sandbox.
/// </summary>
internal static class Methods
{
    private static readonly HashSet<string> s_stringMethods =
    [
        "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit", "splitlines", "upper", "lower",
        "title", "capitalize", "replace", "find", "rfind", "count", "join", "isdigit", "isalpha", "isalnum", "isspace",
        "isupper", "islower",
    ];

    private static readonly HashSet<string> s_dictMethods = ["items", "keys", "values", "get"];

    public static bool IsMethod(object? target, string name) => target switch
    {
        string => s_stringMethods.Contains(name),
        Dictionary<string, object?> => s_dictMethods.Contains(name),
        _ => false,
    };

    public static bool TryInvoke(object? target, string name, Arguments args, out object? result)
    {
        switch (target)
        {
            case string s when s_stringMethods.Contains(name):
                result = StringMethod(s, name, args);
                return true;
            case Dictionary<string, object?> dict when s_dictMethods.Contains(name):
                result = DictMethod(dict, name, args);
                return true;
            default:
                result = null;
                return false;
        }
    }

    private static object? StringMethod(string s, string name, Arguments args)
    {
        switch (name)
        {
            case "strip":
                return Strip(s, Chars(args, name), start: true, end: true);
            case "lstrip":
                return Strip(s, Chars(args, name), start: true, end: false);
            case "rstrip":
                return Strip(s, Chars(args, name), start: false, end: true);
            case "startswith":
            case "endswith":
                args.Expect(name, 1);
                var candidates = args.Get(0, "prefix") switch
                {
                    string one => [one],
                    List<object?> many => many.Select(m => m as string ?? throw new JinjaError($"{name}() arguments must be str")).ToArray(),
                    var other => throw new JinjaError($"{name}() argument must be str or a tuple of str, not {Values.TypeName(other)}"),
                };
                return name == "startswith"
                    ? candidates.Any(c => s.StartsWith(c, StringComparison.Ordinal))
                    : candidates.Any(c => s.EndsWith(c, StringComparison.Ordinal));
            case "split":
            case "rsplit":
                args.Expect(name, 2, "sep", "maxsplit");
                return Split(s, args.Get(0, "sep") as string, (int)Values.ToLong(args.Get(1, "maxsplit", -1L)), name == "rsplit");
            case "splitlines":
                return s.Split('\n').Select(line => (object?)line.TrimEnd('\r')).SkipLastIf(s.EndsWith('\n')).ToList();
            case "upper":
                return s.ToUpperInvariant();
            case "lower":
                return s.ToLowerInvariant();
            case "title":
                return Title(s);
            case "capitalize":
                return s.Length == 0 ? s : string.Concat(s[..1].ToUpperInvariant(), s[1..].ToLowerInvariant());
            case "replace":
                args.Expect(name, 3, "old", "new", "count");
                return Replace(s, Str(args.Get(0, "old"), name), Str(args.Get(1, "new"), name), Values.ToLong(args.Get(2, "count", -1L)));
            case "find":
                return (long)s.IndexOf(Str(args.Get(0, "sub"), name), StringComparison.Ordinal);
            case "rfind":
                return (long)s.LastIndexOf(Str(args.Get(0, "sub"), name), StringComparison.Ordinal);
            case "count":
                var sub = Str(args.Get(0, "sub"), name);
                return sub.Length == 0 ? s.Length + 1L : (long)((s.Length - s.Replace(sub, "", StringComparison.Ordinal).Length) / sub.Length);
            case "join":
                return string.Join(s, Values.Iterate(args.Get(0, "iterable")).Select(item =>
                    item as string ?? throw new JinjaError($"sequence item: expected str instance, {Values.TypeName(item)} found")));
            case "isdigit":
                return s.Length > 0 && s.All(char.IsDigit);
            case "isalpha":
                return s.Length > 0 && s.All(char.IsLetter);
            case "isalnum":
                return s.Length > 0 && s.All(char.IsLetterOrDigit);
            case "isspace":
                return s.Length > 0 && s.All(char.IsWhiteSpace);
            case "isupper":
                return s.Any(char.IsLetter) && !s.Any(char.IsLower);
            case "islower":
                return s.Any(char.IsLetter) && !s.Any(char.IsUpper);
            default:
                throw new JinjaError($"'str' object has no attribute '{name}'");
        }
    }

    private static object? DictMethod(Dictionary<string, object?> dict, string name, Arguments args)
    {
        switch (name)
        {
            case "items":
                return dict.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList();
            case "keys":
                return dict.Keys.Select(k => (object?)k).ToList();
            case "values":
                return dict.Values.ToList();
            case "get":
                args.Expect(name, 2);
                return args.Get(0, "key") is string key && dict.TryGetValue(key, out var value) ? value : args.Get(1, "default");
            default:
                throw new JinjaError($"'dict' object has no attribute '{name}'");
        }
    }

    /// <summary>Python's strip family: whitespace when <paramref name="chars"/> is null.</summary>
    public static string Strip(string s, string? chars, bool start, bool end)
    {
        if (chars is null)
        {
            return start && end ? s.Trim() : start ? s.TrimStart() : s.TrimEnd();
        }

        var set = chars.ToCharArray();
        return start && end ? s.Trim(set) : start ? s.TrimStart(set) : s.TrimEnd(set);
    }

    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var previousCased = false;
        foreach (var c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }

        return sb.ToString();
    }

    public static string Replace(string s, string oldValue, string newValue, long count)
    {
        if (count < 0)
        {
            return oldValue.Length == 0 ? InsertBetweenAll(s, newValue) : s.Replace(oldValue, newValue, StringComparison.Ordinal);
        }

        var sb = new StringBuilder();
        var position = 0;
        for (var done = 0L; done < count && oldValue.Length > 0; done++)
        {
            var index = s.IndexOf(oldValue, position, StringComparison.Ordinal);
            if (index < 0)
            {
                break;
            }

            sb.Append(s, position, index - position).Append(newValue);
            position = index + oldValue.Length;
        }

        return sb.Append(s, position, s.Length - position).ToString();
    }

    private static string InsertBetweenAll(string s, string value)
    {
        var sb = new StringBuilder(value);
        foreach (var c in s)
        {
            sb.Append(c).Append(value);
        }

        return sb.ToString();
    }

    private static List<object?> Split(string s, string? separator, int maxSplit, bool fromRight)
    {
        var result = new List<object?>();
        if (separator is null)
        {
            // Runs of whitespace separate words; no empty strings. With maxsplit, the rest keeps its inner whitespace.
            var words = new List<(int Start, int End)>();
            for (var i = 0; i < s.Length;)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i]))
                {
                    i++;
                }

                var wordStart = i;
                while (i < s.Length && !char.IsWhiteSpace(s[i]))
                {
                    i++;
                }

                if (i > wordStart)
                {
                    words.Add((wordStart, i));
                }
            }

            if (maxSplit < 0 || words.Count <= maxSplit + 1)
            {
                result.AddRange(words.Select(w => (object?)s[w.Start..w.End]));
            }
            else if (fromRight)
            {
                var firstKept = words.Count - maxSplit;
                result.Add(s[..words[firstKept - 1].End]);
                result.AddRange(words.Skip(firstKept).Select(w => (object?)s[w.Start..w.End]));
            }
            else
            {
                result.AddRange(words.Take(maxSplit).Select(w => (object?)s[w.Start..w.End]));
                result.Add(s[words[maxSplit].Start..]);
            }

            return result;
        }

        if (separator.Length == 0)
        {
            throw new JinjaError("empty separator");
        }

        if (maxSplit < 0)
        {
            result.AddRange(s.Split(separator));
            return result;
        }

        if (!fromRight)
        {
            result.AddRange(s.Split(separator, maxSplit + 1));
            return result;
        }

        var pieces = new List<object?>();
        var end = s.Length;
        for (var i = 0; i < maxSplit; i++)
        {
            var index = end == 0 ? -1 : s.LastIndexOf(separator, end - 1, StringComparison.Ordinal);
            if (index < 0 || index + separator.Length > end)
            {
                break;
            }

            pieces.Insert(0, s[(index + separator.Length)..end]);
            end = index;
        }

        pieces.Insert(0, s[..end]);
        return pieces;
    }

    private static string? Chars(Arguments args, string name)
    {
        args.Expect(name, 1, "chars");
        return args.Get(0, "chars") switch
        {
            null or Undefined => null,
            string chars => chars,
            var other => throw new JinjaError($"{name} arg must be None or str, not {Values.TypeName(other)}"),
        };
    }

    private static string Str(object? value, string function) =>
        value as string ?? throw new JinjaError($"{function}() argument must be str, not {Values.TypeName(value)}");

    private static IEnumerable<T> SkipLastIf<T>(this IEnumerable<T> source, bool condition) =>
        condition ? source.SkipLast(1) : source;
}
