using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>
/// Steady streaming load: each client posts a streamed completion, reads it to <c>[DONE]</c>, and posts the next.
/// A request counts as failed when its status is not 200, its stream carries an error, or it ends without <c>[DONE]</c>;
/// under greedy load (<see cref="StartGreedy"/>) also when its text differs from the expected text of its prompt.
/// </summary>
internal sealed class LoadGenerator : IAsyncDisposable
{
    private readonly HttpClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly IReadOnlyList<(string Prompt, string Text)>? _expected;
    private readonly Task[] _clients;
    private int _succeeded;

    private LoadGenerator(HttpClient client, int clients, int maxTokens, IReadOnlyList<(string Prompt, string Text)>? expected)
    {
        _client = client;
        _expected = expected;
        _clients = [.. Enumerable.Range(0, clients).Select(i => Task.Run(() => ClientLoopAsync(i, maxTokens)))];
    }

    public int Succeeded => Volatile.Read(ref _succeeded);

    public IReadOnlyCollection<string> Failures => _failures;

    public static LoadGenerator Start(HttpClient client, int clients = 6, int maxTokens = 12) => new(client, clients, maxTokens, null);

    /// <summary>
    /// Greedy load: the clients take the prompts of <paramref name="expected"/> in turn at temperature 0, and a stream
    /// whose text is not the expected one (from <see cref="GreedyTextAsync"/> on an undisturbed cluster) fails.
    /// </summary>
    public static LoadGenerator StartGreedy(HttpClient client, IReadOnlyList<(string Prompt, string Text)> expected, int clients, int maxTokens) =>
        new(client, clients, maxTokens, expected);

    /// <summary>One greedy streamed completion of <paramref name="prompt"/>, as the greedy load asks for it; its text.</summary>
    public static async Task<string> GreedyTextAsync(HttpClient client, string prompt, int maxTokens)
    {
        using var request = Request(prompt, maxTokens, greedy: true);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"HTTP {(int)response.StatusCode}: {body}");
        var (problem, text) = ReadStream(body);
        Assert.True(problem is null, $"broken stream ({problem}): {body}");
        return text;
    }

    /// <summary>
    /// Waits until <paramref name="more"/> further requests have succeeded. The bound is for liveness only (a hang
    /// fails the test, slowness does not): generous enough for a suite run on two busy cores.
    /// </summary>
    public async Task WaitForMoreAsync(int more, string what)
    {
        var target = Succeeded + more;
        await Wait.UntilAsync(() => Succeeded >= target, $"{more} more successful requests ({what}); failures so far: {string.Join(" | ", _failures.Take(3))}", TimeSpan.FromSeconds(60));
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_clients);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }

    private async Task ClientLoopAsync(int client, int maxTokens)
    {
        for (var i = 0; !_stop.IsCancellationRequested; i++)
        {
            var expected = _expected?[(client + (i * _clients.Length)) % _expected.Count];
            using var request = Request(expected?.Prompt ?? $"client {client} request {i} says hello to the cluster", maxTokens, greedy: expected is not null);
            try
            {
                // A request started is finished even while stopping: the load stops between requests, not inside one.
                using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                var (problem, text) = ReadStream(body);
                if (!response.IsSuccessStatusCode)
                {
                    _failures.Enqueue($"HTTP {(int)response.StatusCode}: {body}");
                }
                else if (problem is not null)
                {
                    _failures.Enqueue($"broken stream ({problem}): {body[^Math.Min(body.Length, 400)..]}");
                }
                else if (expected is { } greedy && text != greedy.Text)
                {
                    _failures.Enqueue($"greedy output of '{greedy.Prompt}' differs from the undisturbed run's: '{text}' instead of '{greedy.Text}'");
                }
                else
                {
                    Interlocked.Increment(ref _succeeded);
                }
            }
            catch (HttpRequestException ex)
            {
                _failures.Enqueue($"{ex.GetType().Name}: {ex.Message}");
            }
        }
    }

    private static HttpRequestMessage Request(string prompt, int maxTokens, bool greedy)
    {
        var temperature = greedy ? ""","temperature":0""" : "";
        var json = $$"""{"model":"{{TestModel.Name}}","prompt":"{{prompt}}","max_tokens":{{maxTokens}},"stream":true,"ignore_eos":true{{temperature}}}""";
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        return request;
    }

    /// <summary>Why an SSE body is not one whole, successful stream (null when it is), and the text its chunks carry.</summary>
    private static (string? Problem, string Text) ReadStream(string body)
    {
        var text = new StringBuilder();
        var done = false;
        foreach (var line in body.Split('\n'))
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                continue;
            }

            var data = line["data: ".Length..].TrimEnd('\r');
            if (data == "[DONE]")
            {
                done = true;
                continue;
            }

            if (done)
            {
                return ("an event after [DONE]", text.ToString());
            }

            try
            {
                using var json = JsonDocument.Parse(data);
                if (json.RootElement.TryGetProperty("error", out _))
                {
                    return ("an error event", text.ToString());
                }

                if (json.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                    && choices[0].TryGetProperty("text", out var chunkText))
                {
                    text.Append(chunkText.GetString());
                }
            }
            catch (JsonException ex)
            {
                return ("an event that is not JSON: " + ex.Message, text.ToString());
            }
        }

        return (done ? null : "no [DONE]", text.ToString());
    }
}
