using System.Globalization;

namespace Dynamo.Gateway.Security;

/// <summary>
/// The API keys of <see cref="AuthOptions"/>, inline and from <see cref="AuthOptions.KeysFile"/>, held to the same
/// rules wherever they come from; each problem names where the key is (the configuration key, or the file and line)
/// and never the key itself.
/// </summary>
public static class ApiKeys
{
    public const int MinLength = 8;

    public const int MaxLength = 1024;

    /// <summary>Every configured key in order (inline first), and the problems found; keys are usable only with no problems.</summary>
    public static (List<ApiKeyOptions> Keys, List<string> Problems) Load(AuthOptions auth, string section)
    {
        ArgumentNullException.ThrowIfNull(auth);
        var keys = new List<ApiKeyOptions>();
        var problems = new List<string>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < auth.Keys.Count; i++)
        {
            Add(auth.Keys[i], $"{section}:Auth:Keys:{i}:Key");
        }

        if (auth.KeysFile is { } file)
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                problems.Add($"{section}:Auth:KeysFile = '{file}': the file cannot be read ({ex.Message}).");
                return (keys, problems);
            }

            for (var line = 0; line < lines.Length; line++)
            {
                var key = lines[line].Trim();
                if (key.Length > 0 && !key.StartsWith('#'))
                {
                    Add(new ApiKeyOptions { Key = key }, $"{section}:Auth:KeysFile '{file}' line {(line + 1).ToString(CultureInfo.InvariantCulture)}");
                }
            }
        }

        return (keys, problems);

        void Add(ApiKeyOptions key, string where)
        {
            if (Problem(key.Key) is { } problem)
            {
                problems.Add($"{where}: the key {problem}.");
            }
            else if (seen.TryGetValue(key.Key, out var first))
            {
                problems.Add($"{where}: the key repeats the one at {first}; each key must be distinct.");
            }
            else
            {
                seen[key.Key] = where;
                keys.Add(key);
            }
        }
    }

    /// <summary>What is wrong with <paramref name="key"/> (phrased to follow "the key"), or null.</summary>
    public static string? Problem(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length < MinLength)
        {
            return $"has {key.Length} characters; it must have at least {MinLength}";
        }

        if (key.Length > MaxLength)
        {
            return $"has {key.Length} characters; it must have at most {MaxLength}";
        }

        foreach (var c in key)
        {
            if (c is < '!' or > '~')
            {
                return $"holds a character other than printable ASCII (U+{(int)c:X4} at position {key.IndexOf(c, StringComparison.Ordinal) + 1}); " +
                    "keys travel in the Authorization header and may not hold spaces, control or non-ASCII characters";
            }
        }

        return null;
    }
}
