using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Dynamo.Bench.Resilience;

/// <summary>
/// One client stream as the client saw it. <see cref="MaxGapMs"/> is its longest wait for text: to the first
/// token or between two, where a migrated stream shows the cost of its move.
/// </summary>
internal sealed record StreamRecord(string Prompt, long Start, long End, double MaxGapMs, string? Id, string Text, string? Problem)
{
    public double E2eMs => Stopwatch.GetElapsedTime(Start, End).TotalMilliseconds;
}

/// <summary>
/// Steady streaming load of greedy requests: each client posts a streamed completion (temperature 0, ignore_eos),
/// reads it to <c>[DONE]</c> and posts the next, taking the prompts in turn. Every stream is recorded.
/// </summary>
internal sealed class GreedyLoad : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _model;
    private readonly int _maxTokens;
    private readonly ConcurrentQueue<StreamRecord> _streams = new();
    private readonly CancellationTokenSource _stop = new();
    private Task[] _clients = [];

    public GreedyLoad(HttpClient http, string model, int maxTokens)
    {
        _http = http;
        _model = model;
        _maxTokens = maxTokens;
    }

    public IReadOnlyCollection<StreamRecord> Streams => _streams;

    public void Start(IReadOnlyList<string> prompts, int clients) =>
        _clients = [.. Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            for (var i = 0; !_stop.IsCancellationRequested; i++)
            {
                _streams.Enqueue(await StreamAsync(prompts[(c + (i * clients)) % prompts.Count]));
            }
        }))];

    /// <summary>Stops between requests: every stream already started is read to its end.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_clients);
    }

    public void Dispose() => _stop.Dispose();

    public async Task<StreamRecord> StreamAsync(string prompt)
    {
        var json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = _model,
            ["prompt"] = prompt,
            ["max_tokens"] = _maxTokens,
            ["temperature"] = 0,
            ["ignore_eos"] = true,
            ["stream"] = true,
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        var start = Stopwatch.GetTimestamp();
        var last = start;
        var maxGap = 0.0;
        string? id = null;
        var text = new StringBuilder();
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (!response.IsSuccessStatusCode)
            {
                return new StreamRecord(prompt, start, Stopwatch.GetTimestamp(), 0, null, "", $"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    continue;
                }

                var data = line["data: ".Length..];
                if (data == "[DONE]")
                {
                    return new StreamRecord(prompt, start, Stopwatch.GetTimestamp(), maxGap, id, text.ToString(), null);
                }

                using var chunk = JsonDocument.Parse(data);
                if (chunk.RootElement.TryGetProperty("error", out var error))
                {
                    return new StreamRecord(prompt, start, Stopwatch.GetTimestamp(), maxGap, id, text.ToString(), "error event: " + error.GetRawText());
                }

                id ??= chunk.RootElement.TryGetProperty("id", out var idElement) ? idElement.GetString() : null;
                if (chunk.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                    && choices[0].TryGetProperty("text", out var piece) && piece.GetString() is { Length: > 0 } s)
                {
                    var now = Stopwatch.GetTimestamp();
                    maxGap = Math.Max(maxGap, Stopwatch.GetElapsedTime(last, now).TotalMilliseconds);
                    last = now;
                    text.Append(s);
                }
            }

            return new StreamRecord(prompt, start, Stopwatch.GetTimestamp(), maxGap, id, text.ToString(), "no [DONE]");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or JsonException)
        {
            return new StreamRecord(prompt, start, Stopwatch.GetTimestamp(), maxGap, id, text.ToString(), $"{ex.GetType().Name}: {ex.Message}");
        }
    }
}
