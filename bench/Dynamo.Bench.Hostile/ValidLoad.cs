using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Dynamo.Bench.Hostile;

/// <summary>Ordinary clients (completions and chat, unary and streamed) that must all be served while the attack runs.</summary>
internal sealed class ValidLoad(Uri address, string key)
{
    private int _succeeded;

    public int Succeeded => Volatile.Read(ref _succeeded);

    public ConcurrentQueue<string> Failures { get; } = new();

    public async Task RunAsync(int client, CancellationToken stop)
    {
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var chat = (i + client) % 2 == 0;
            var stream = (i / 2 + client) % 2 == 0;
            var json = chat
                ? $$"""{"model":"tiny","messages":[{"role":"user","content":"valid request {{i}}"}],"max_tokens":8,"stream":{{(stream ? "true" : "false")}}}"""
                : $$"""{"model":"tiny","prompt":"valid request {{i}}","max_tokens":8,"stream":{{(stream ? "true" : "false")}}}""";
            using var request = new HttpRequestMessage(HttpMethod.Post, chat ? "v1/chat/completions" : "v1/completions")
            {
                Content = new StringContent(json, Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            string? problem;
            try
            {
                using var response = await http.SendAsync(request, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                problem = response.StatusCode != HttpStatusCode.OK ? $"HTTP {(int)response.StatusCode}: {body[..Math.Min(body.Length, 200)]}"
                    : stream ? (body.TrimEnd().EndsWith("data: [DONE]", StringComparison.Ordinal) && !body.Contains("data: {\"error\"", StringComparison.Ordinal) ? null : $"broken stream: {body[^Math.Min(body.Length, 300)..]}")
                    : JsonNode.Parse(body)?["choices"]?.AsArray().Count > 0 ? null : $"no choices: {body[..Math.Min(body.Length, 200)]}";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
            {
                problem = ex.Message;
            }

            if (problem is null)
            {
                Interlocked.Increment(ref _succeeded);
            }
            else
            {
                Failures.Enqueue($"{(chat ? "chat" : "completions")} {(stream ? "stream" : "unary")}: {problem}");
            }
        }
    }
}
