using System.Text.Json.Nodes;
using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster.Selectors;

/// <summary>
/// A field selector: <c>path=value</c>, <c>path==value</c>, <c>path!=value</c>, comma-separated. Paths are dotted
/// object paths (<c>metadata.name</c>, <c>metadata.namespace</c>, <c>involvedObject.uid</c>, <c>status.phase</c>,
/// <c>spec.nodeName</c>); a missing field compares as the empty string, as the real server's field sets do.
/// </summary>
public sealed class FieldSelector
{
    private readonly IReadOnlyList<(string Path, bool Equal, string Value)> _terms;

    private FieldSelector(IReadOnlyList<(string, bool, string)> terms) => _terms = terms;

    public static FieldSelector Everything { get; } = new([]);

    public static FieldSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return Everything;
        var terms = new List<(string, bool, string)>();
        foreach (var raw in text.Split(','))
        {
            var part = raw.Trim();
            if (part.Length == 0) continue;
            int at;
            bool equal;
            int width;
            if ((at = part.IndexOf("!=", StringComparison.Ordinal)) > 0) { equal = false; width = 2; }
            else if ((at = part.IndexOf("==", StringComparison.Ordinal)) > 0) { equal = true; width = 2; }
            else if ((at = part.IndexOf('=')) > 0) { equal = true; width = 1; }
            else throw ApiException.BadRequest($"invalid field selector \"{text}\": '{part}' is not path=value, path==value or path!=value");
            var path = part[..at].Trim();
            if (!System.Text.RegularExpressions.Regex.IsMatch(path, @"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"))
                throw ApiException.BadRequest($"invalid field selector \"{text}\": '{path}' is not a field path");
            terms.Add((path, equal, part[(at + width)..].Trim()));
        }
        return new FieldSelector(terms);
    }

    public bool Matches(JsonObject obj)
    {
        foreach (var (path, equal, value) in _terms)
        {
            var actual = JsonPaths.Scalar(JsonPaths.Get(obj, path)) ?? "";
            if ((actual == value) != equal) return false;
        }
        return true;
    }
}
