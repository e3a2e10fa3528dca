using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dynamo.Engine.Model;

namespace Dynamo.Router.Tests.Functional;

/// <summary>Client helpers for the gateway's OpenAI endpoint and its Prometheus page.</summary>
internal static partial class Http
{
    private static readonly SemaphoreSlim ModelGate = new(1, 1);
    private static string? _modelDir;

    /// <summary>The generated tiny model, once per test run.</summary>
    public static async Task<string> TinyModelAsync()
    {
        await ModelGate.WaitAsync();
        try
        {
            return _modelDir ??= await ModelWriter.EnsureAsync(
                Path.Combine(Path.GetTempPath(), "dynamo-router-tests", "tiny-" + Environment.ProcessId), ModelPreset.Tiny, seed: 0);
        }
        finally
        {
            ModelGate.Release();
        }
    }

    /// <summary>POST /v1/completions with a token-id prompt; returns usage.prompt_tokens_details.cached_tokens.</summary>
    public static async Task<int> CompleteAsync(HttpClient client, string model, int[] prompt, int maxTokens)
    {
        using var response = await client.PostAsJsonAsync("v1/completions", new Dictionary<string, object>
        {
            ["model"] = model,
            ["prompt"] = prompt,
            ["max_tokens"] = maxTokens,
            ["ignore_eos"] = true,
        });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"completion answered {(int)response.StatusCode}: {body}");
        var usage = JsonDocument.Parse(body).RootElement.GetProperty("usage");
        return usage.TryGetProperty("prompt_tokens_details", out var details) && details.TryGetProperty("cached_tokens", out var cached)
            ? cached.GetInt32()
            : 0;
    }

    /// <summary>Routing decisions per worker, from the gateway's <c>/metrics</c>.</summary>
    public static async Task<Dictionary<string, int>> DecisionsAsync(HttpClient client)
    {
        var text = await client.GetStringAsync("metrics");
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match match in DecisionLine().Matches(text))
        {
            counts[match.Groups["worker"].Value] = (int)double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
        }

        return counts;
    }

    /// <summary>One sample of a metric without labels.</summary>
    public static async Task<double> MetricAsync(HttpClient client, string name)
    {
        var text = await client.GetStringAsync("metrics");
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        Assert.True(line is not null, $"/metrics has no {name}");
        return double.Parse(line![(name.Length + 1)..], CultureInfo.InvariantCulture);
    }

    [GeneratedRegex("""dynamo_component_router_decisions_total\{policy="[^"]*",worker="(?<worker>[^"]+)"\} (?<value>[0-9.e+]+)""")]
    private static partial Regex DecisionLine();
}
