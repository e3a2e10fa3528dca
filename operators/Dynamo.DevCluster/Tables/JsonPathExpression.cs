using System.Text.Json.Nodes;

namespace Dynamo.DevCluster.Tables;

/// <summary>
/// The JSONPath subset printer columns use: <c>.a.b</c>, <c>['a.b']</c>, <c>[0]</c>, <c>[*]</c> and filters
/// <c>[?(@.type=="Ready")]</c> (== and !=). Evaluates to the matching values.
/// </summary>
public sealed class JsonPathExpression
{
    private abstract record Step;
    private sealed record Field(string Name) : Step;
    private sealed record Index(int Value) : Step;
    private sealed record All : Step;
    private sealed record Filter(string Path, bool Equal, string Value) : Step;

    private readonly List<Step> _steps;

    private JsonPathExpression(List<Step> steps) => _steps = steps;

    public static JsonPathExpression Parse(string text)
    {
        var s = text.Trim();
        if (s.StartsWith('{') && s.EndsWith('}')) s = s[1..^1];
        if (s.StartsWith('$')) s = s[1..];
        var steps = new List<Step>();
        var i = 0;
        while (i < s.Length)
        {
            if (s[i] == '.')
            {
                i++;
                var start = i;
                while (i < s.Length && s[i] is not ('.' or '[')) i++;
                if (i > start) steps.Add(new Field(s[start..i]));
            }
            else if (s[i] == '[')
            {
                var close = FindClose(s, i);
                var inner = s[(i + 1)..close].Trim();
                i = close + 1;
                if (inner == "*") steps.Add(new All());
                else if (inner.StartsWith('\'') || inner.StartsWith('"')) steps.Add(new Field(inner[1..^1]));
                else if (inner.StartsWith("?(", StringComparison.Ordinal) && inner.EndsWith(')')) steps.Add(ParseFilter(text, inner[2..^1]));
                else if (int.TryParse(inner, System.Globalization.CultureInfo.InvariantCulture, out var n)) steps.Add(new Index(n));
                else throw new FormatException($"unsupported JSONPath step [{inner}] in {text}");
            }
            else
            {
                var start = i;
                while (i < s.Length && s[i] is not ('.' or '[')) i++;
                steps.Add(new Field(s[start..i]));
            }
        }
        return new JsonPathExpression(steps);
    }

    public IReadOnlyList<JsonNode?> Evaluate(JsonNode? root)
    {
        IEnumerable<JsonNode?> current = [root];
        foreach (var step in _steps)
        {
            current = step switch
            {
                Field f => current.Select(n => n is JsonObject o && o.TryGetPropertyValue(f.Name, out var v) ? v : null).Where(n => n is not null),
                Index ix => current.Select(n => n is JsonArray a && (ix.Value >= 0 ? ix.Value : a.Count + ix.Value) is var k && k >= 0 && k < a.Count ? a[k] : null).Where(n => n is not null),
                All => current.SelectMany(n => n switch { JsonArray a => a.AsEnumerable(), JsonObject o => o.Select(p => p.Value), _ => [] }),
                Filter fl => current.SelectMany(n => n is JsonArray a ? a.Where(item => Matches(item, fl)) : []),
                _ => [],
            };
        }
        return current.ToList();
    }

    private static bool Matches(JsonNode? item, Filter f)
    {
        var value = Parse("." + f.Path).Evaluate(item).FirstOrDefault();
        var text = value is JsonValue v && v.TryGetValue<string>(out var str) ? str : value?.ToJsonString();
        return (text == f.Value) == f.Equal;
    }

    private static Filter ParseFilter(string text, string expr)
    {
        var equal = true;
        var at = expr.IndexOf("==", StringComparison.Ordinal);
        if (at < 0)
        {
            at = expr.IndexOf("!=", StringComparison.Ordinal);
            equal = false;
        }
        if (at < 0 || !expr.TrimStart().StartsWith("@.", StringComparison.Ordinal))
            throw new FormatException($"unsupported JSONPath filter ({expr}) in {text}: use @.field==\"value\"");
        var path = expr[..at].Trim()[2..];
        var value = expr[(at + 2)..].Trim().Trim('"', '\'');
        return new Filter(path, equal, value);
    }

    private static int FindClose(string s, int open)
    {
        var depth = 0;
        char? quote = null;
        for (var i = open; i < s.Length; i++)
        {
            var c = s[i];
            if (quote is not null)
            {
                if (c == quote) quote = null;
                continue;
            }
            if (c is '\'' or '"') quote = c;
            else if (c == '[') depth++;
            else if (c == ']' && --depth == 0) return i;
        }
        throw new FormatException($"unbalanced '[' in JSONPath {s}");
    }
}
