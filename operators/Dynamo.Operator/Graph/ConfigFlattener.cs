using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.Runtime.Observability;

namespace Dynamo.Operator.Graph;

/// <summary>
/// Turns the graph's <c>config</c> block into the environment variables the processes read
/// (<c>{planner: {mode: agg}}</c> → <c>DYNAMO__PLANNER__MODE=agg</c>; list items by index), and hashes them so a
/// change rolls the pods.
/// </summary>
public static class ConfigFlattener
{
    public static SortedDictionary<string, string> Flatten(JsonObject? config)
    {
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (config is not null)
        {
            Walk(config, EnvironmentVariables.ConfigurationPrefix.TrimEnd('_'), values);
        }

        return values;
    }

    /// <summary>The first 16 hex digits of the SHA-256 of the variables, in order.</summary>
    public static string Hash(IReadOnlyDictionary<string, string> values)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in values.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            text.Append(key).Append('=').Append(value).Append('\n');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }

    private static void Walk(JsonNode? node, string prefix, SortedDictionary<string, string> values)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj)
                {
                    Walk(value, $"{prefix}__{Key(key)}", values);
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    Walk(array[i], $"{prefix}__{i.ToString(CultureInfo.InvariantCulture)}", values);
                }

                break;
            case null:
                values[prefix] = "";
                break;
            case JsonValue value:
                values[prefix] = value.GetValueKind() switch
                {
                    JsonValueKind.String => value.GetValue<string>(),
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    _ => value.ToJsonString(),
                };
                break;
        }
    }

    /// <summary>Configuration keys are case-insensitive; upper case is the convention for environment variables.</summary>
    private static string Key(string key) => key.Replace("-", "_", StringComparison.Ordinal).ToUpperInvariant();
}
