using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.Bench.Metrics;

namespace Dynamo.Bench.Reports;

/// <summary>The summary as JSON: the stable fields of <see cref="BenchSummary"/>, then any extra fields a tool adds (replay, sweep).</summary>
public static class JsonReport
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public static JsonObject ToJson(BenchSummary summary, IEnumerable<KeyValuePair<string, JsonNode?>>? extra = null)
    {
        var json = JsonSerializer.SerializeToNode(summary, Options)!.AsObject();
        foreach (var (key, value) in extra ?? [])
        {
            json[key] = value;
        }

        return json;
    }

    public static string Serialize(JsonNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return node.ToJsonString(Options);
    }

    /// <summary>Writes to <paramref name="path"/>, or to standard output when it is <c>-</c>.</summary>
    public static async Task WriteAsync(JsonNode node, string path, CancellationToken cancellationToken = default)
    {
        string text = Serialize(node) + Environment.NewLine;
        if (path == "-")
        {
            await Console.Out.WriteAsync(text.AsMemory(), cancellationToken).ConfigureAwait(false);
            await Console.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        await File.WriteAllTextAsync(path, text, cancellationToken).ConfigureAwait(false);
    }

    public static BenchSummary? ReadSummary(string text) => JsonSerializer.Deserialize<BenchSummary>(text, Options);
}
