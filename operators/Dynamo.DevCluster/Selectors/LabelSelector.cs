using System.Text.Json.Nodes;

namespace Dynamo.DevCluster.Selectors;

/// <summary>
/// A parsed label selector: <c>a=b</c>, <c>a==b</c>, <c>a!=b</c>, <c>a in (x,y)</c>, <c>a notin (x)</c>,
/// <c>a</c> (exists) and <c>!a</c> (does not exist), comma-separated and all required.
/// </summary>
public sealed class LabelSelector
{
    private enum Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist }

    private sealed record Requirement(string Key, Op Op, IReadOnlyList<string> Values);

    private readonly IReadOnlyList<Requirement> _requirements;

    private LabelSelector(IReadOnlyList<Requirement> requirements) => _requirements = requirements;

    public static LabelSelector Everything { get; } = new([]);

    public bool IsEverything => _requirements.Count == 0;

    /// <summary>Parses the query-string form; a malformed selector throws a 400 naming it.</summary>
    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return Everything;
        var reqs = new List<Requirement>();
        var pos = 0;
        while (pos < text.Length)
        {
            SkipSpaces(text, ref pos);
            if (pos >= text.Length) break;
            var negate = false;
            if (text[pos] == '!')
            {
                negate = true;
                pos++;
                SkipSpaces(text, ref pos);
            }
            var key = ReadToken(text, ref pos);
            if (key.Length == 0) throw Bad(text, "a label key is missing");
            ValidateKey(text, key);
            SkipSpaces(text, ref pos);
            if (negate)
            {
                reqs.Add(new Requirement(key, Op.DoesNotExist, []));
            }
            else if (pos >= text.Length || text[pos] == ',')
            {
                reqs.Add(new Requirement(key, Op.Exists, []));
            }
            else if (text[pos] == '=' || text[pos] == '!')
            {
                Op op;
                if (text[pos] == '!')
                {
                    if (pos + 1 >= text.Length || text[pos + 1] != '=') throw Bad(text, $"expected '!=' after '{key}'");
                    op = Op.NotEquals;
                    pos += 2;
                }
                else
                {
                    op = Op.Equals;
                    pos += pos + 1 < text.Length && text[pos + 1] == '=' ? 2 : 1;
                }
                SkipSpaces(text, ref pos);
                var value = ReadToken(text, ref pos);
                ValidateValue(text, value);
                reqs.Add(new Requirement(key, op, [value]));
            }
            else
            {
                var word = ReadToken(text, ref pos);
                Op op = word switch
                {
                    "in" => Op.In,
                    "notin" => Op.NotIn,
                    _ => throw Bad(text, $"unknown operator '{word}' after '{key}' (use =, ==, !=, in, notin)"),
                };
                SkipSpaces(text, ref pos);
                if (pos >= text.Length || text[pos] != '(') throw Bad(text, $"expected '(' after '{word}'");
                var close = text.IndexOf(')', pos);
                if (close < 0) throw Bad(text, "missing ')'");
                var values = text[(pos + 1)..close].Split(',').Select(v => v.Trim()).ToList();
                if (values.Any(v => v.Length == 0) && values.Count > 1) throw Bad(text, "an empty value in a set");
                foreach (var v in values) ValidateValue(text, v);
                reqs.Add(new Requirement(key, op, values));
                pos = close + 1;
            }
            SkipSpaces(text, ref pos);
            if (pos < text.Length)
            {
                if (text[pos] != ',') throw Bad(text, $"unexpected '{text[pos]}' at position {pos}");
                pos++;
            }
        }
        return new LabelSelector(reqs);
    }

    /// <summary>The string form of a metav1.LabelSelector object (matchLabels, matchExpressions).</summary>
    public static string FormatObject(JsonObject? selector)
    {
        if (selector is null) return "";
        var parts = new List<string>();
        if (selector["matchLabels"] is JsonObject labels)
        {
            parts.AddRange(labels.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
        }
        if (selector["matchExpressions"] is JsonArray exprs)
        {
            foreach (var e in exprs.OfType<JsonObject>())
            {
                var key = (string?)e["key"];
                var values = e["values"] is JsonArray vs ? string.Join(",", vs.Select(v => (string?)v)) : "";
                parts.Add(((string?)e["operator"]) switch
                {
                    "In" => $"{key} in ({values})",
                    "NotIn" => $"{key} notin ({values})",
                    "Exists" => key!,
                    "DoesNotExist" => "!" + key,
                    var other => throw ApiException.BadRequest($"matchExpressions operator '{other}' is not one of In, NotIn, Exists, DoesNotExist"),
                });
            }
        }
        return string.Join(",", parts);
    }

    public bool Matches(JsonObject? labels)
    {
        foreach (var r in _requirements)
        {
            string? value = null;
            var has = labels is not null && labels.TryGetPropertyValue(r.Key, out var node) && (value = (string?)node) is not null;
            var ok = r.Op switch
            {
                Op.Exists => has,
                Op.DoesNotExist => !has,
                Op.Equals => has && value == r.Values[0],
                Op.NotEquals => !has || value != r.Values[0],
                Op.In => has && r.Values.Contains(value!),
                Op.NotIn => !has || !r.Values.Contains(value!),
                _ => false,
            };
            if (!ok) return false;
        }
        return true;
    }

    private static void SkipSpaces(string s, ref int pos)
    {
        while (pos < s.Length && s[pos] == ' ') pos++;
    }

    private static string ReadToken(string s, ref int pos)
    {
        var start = pos;
        while (pos < s.Length && s[pos] is not (' ' or ',' or '=' or '!' or '(' or ')')) pos++;
        return s[start..pos];
    }

    private static void ValidateKey(string text, string key)
    {
        if (!System.Text.RegularExpressions.Regex.IsMatch(key, @"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"))
            throw Bad(text, $"'{key}' is not a valid label key");
    }

    private static void ValidateValue(string text, string value)
    {
        if (value.Length > 0 && !System.Text.RegularExpressions.Regex.IsMatch(value, @"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"))
            throw Bad(text, $"'{value}' is not a valid label value");
    }

    private static ApiException Bad(string text, string why) =>
        ApiException.BadRequest($"unable to parse requirement: labelSelector \"{text}\": {why}");
}
