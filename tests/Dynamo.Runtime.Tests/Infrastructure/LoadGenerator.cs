using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>
/// Steady streaming load: each client posts a streamed completion, reads it to <c>[DONE]</c>, and posts the next.
/// A request counts as failed when its status is not 200, its stream carries an error, or it ends without <c>[DONE]</c>.
/// </summary>
internal sealed class LoadGenerator : IAsyncDisposable
{
    private readonly HttpClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly Task[] _clients;
    private int _succeeded;

    private LoadGenerator(HttpClient client, int clients, int maxTokens)
    {
        _client = client;
        _clients = [.. Enumerable.Range(0, clients).Select(i => Task.Run(() => ClientLoopAsync(i, maxTokens)))];
    }

    public int Succeeded => Volatile.Read(ref _succeeded);

    public IReadOnlyCollection<string> Failures => _failures;

    public static LoadGenerator Start(HttpClient client, int clients = 6, int maxTokens = 12) => new(client, clients, maxTokens);

    /// <summary>Waits until <paramref name="more"/> further requests have succeeded.</summary>
    public async Task WaitForMoreAsync(int more, string what)
    {
        var target = Succeeded + more;
        await Wait.UntilAsync(() => Succeeded >= target, $"{more} more successful requests ({what}); failures so far: {string.Join(" | ", _failures.Take(3))}", TimeSpan.FromSeconds(20));
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
            var json = $$"""{"model":"{{TestModel.Name}}","prompt":"client {{client}} request {{i}} says hello to the cluster","max_tokens":{{maxTokens}},"stream":true,"ignore_eos":true}""";
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            try
            {
                // A request started is finished even while stopping: the load stops between requests, not inside one.
                using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                if (!response.IsSuccessStatusCode)
                {
                    _failures.Enqueue($"HTTP {(int)response.StatusCode}: {body}");
                }
                else if (StreamProblem(body) is { } problem)
                {
                    _failures.Enqueue($"broken stream ({problem}): {body[^Math.Min(body.Length, 400)..]}");
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

    /// <summary>Why an SSE body is not one whole, successful stream; null when it is.</summary>
    private static string? StreamProblem(string body)
    {
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
                return "an event after [DONE]";
            }

            try
            {
                using var json = JsonDocument.Parse(data);
                if (json.RootElement.TryGetProperty("error", out _))
                {
                    return "an error event";
                }
            }
            catch (JsonException ex)
            {
                return "an event that is not JSON: " + ex.Message;
            }
        }

        return done ? null : "no [DONE]";
    }
}
