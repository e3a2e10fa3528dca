using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Dynamo.Gateway.Tests.Infrastructure;

/// <summary>
/// A worker whose answers are scripted: each generation request (the worker contract: OpenAI completions with a
/// token-id prompt) is answered with an SSE stream of <see cref="Pieces"/>, one chunk per piece (one token each), then
/// finish reason <c>stop</c>, usage and [DONE]. What a random-weight model would never write (a well-formed tool call)
/// can so go through the real gateway path; the requests it received are kept for assertions.
/// </summary>
internal sealed class ScriptedWorker : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];
    private readonly List<JsonNode> _requests = [];

    public ScriptedWorker()
    {
        _listener.Start();
        _tasks.Add(AcceptLoopAsync());
    }

    public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

    /// <summary>The text pieces each answer is made of.</summary>
    public IReadOnlyList<string> Pieces { get; set; } = [];

    /// <summary>
    /// When set, the first request's stream is cut (no [DONE]) after this many pieces: a worker dying mid-answer. A
    /// request that continues it (its prompt is the first one plus the token ids already sent) gets the remaining pieces.
    /// </summary>
    public int? CutAfterPieces { get; set; }

    /// <summary>The bodies of the generation requests received so far.</summary>
    public IReadOnlyList<JsonNode> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            lock (_tasks)
            {
                _tasks.Add(ServeAsync(client));
            }
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var _ = client;
        try
        {
            var received = new List<byte>();
            var buffer = new byte[8192];
            int headEnd;
            while ((headEnd = IndexOf(received, "\r\n\r\n"u8)) < 0)
            {
                var n = await client.ReceiveAsync(buffer, _stop.Token);
                if (n == 0)
                {
                    return;
                }

                received.AddRange(buffer.AsSpan(0, n));
            }

            var head = Encoding.ASCII.GetString(received.GetRange(0, headEnd).ToArray());
            if (!head.StartsWith("POST /v1/completions ", StringComparison.Ordinal))
            {
                await client.SendAsync("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), _stop.Token);
                return;
            }

            var lengthLine = head.Split("\r\n").First(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            var length = int.Parse(lengthLine["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            while (received.Count < headEnd + 4 + length)
            {
                var n = await client.ReceiveAsync(buffer, _stop.Token);
                if (n == 0)
                {
                    return;
                }

                received.AddRange(buffer.AsSpan(0, n));
            }

            var body = JsonNode.Parse(received.GetRange(headEnd + 4, length).ToArray())!;
            var promptTokens = body["prompt"]!.AsArray().Count;
            int first;
            bool cut;
            lock (_requests)
            {
                _requests.Add(body);
                first = _requests[0]["prompt"]!.AsArray().Count;
                cut = _requests.Count == 1 && CutAfterPieces is not null;
            }

            // One token id per piece: a continuation's prompt says how many pieces were already sent.
            var from = promptTokens - first;
            var stream = new StringBuilder("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
            var pieces = Pieces;
            var to = cut ? CutAfterPieces!.Value : pieces.Count;
            for (var i = from; i < to; i++)
            {
                var chunk = new JsonObject
                {
                    ["id"] = "cmpl-scripted",
                    ["object"] = "text_completion",
                    ["created"] = 0,
                    ["model"] = body["model"]!.GetValue<string>(),
                    ["choices"] = new JsonArray(new JsonObject
                    {
                        ["index"] = 0,
                        ["text"] = pieces[i],
                        ["logprobs"] = null,
                        ["finish_reason"] = i == pieces.Count - 1 ? "stop" : null,
                        ["token_ids"] = new JsonArray(i + 1),
                    }),
                };
                stream.Append("data: ").Append(chunk.ToJsonString()).Append("\n\n");
            }

            if (cut)
            {
                await client.SendAsync(Encoding.UTF8.GetBytes(stream.ToString()), _stop.Token);
                client.Close(0);
                return;
            }

            var usage = new JsonObject
            {
                ["id"] = "cmpl-scripted",
                ["object"] = "text_completion",
                ["created"] = 0,
                ["model"] = body["model"]!.GetValue<string>(),
                ["choices"] = new JsonArray(),
                ["usage"] = new JsonObject { ["prompt_tokens"] = promptTokens, ["completion_tokens"] = pieces.Count - from, ["total_tokens"] = promptTokens + pieces.Count - from },
            };
            stream.Append("data: ").Append(usage.ToJsonString()).Append("\n\ndata: [DONE]\n\n");
            await client.SendAsync(Encoding.UTF8.GetBytes(stream.ToString()), _stop.Token);
            client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private static int IndexOf(List<byte> bytes, ReadOnlySpan<byte> pattern)
    {
        for (var i = 0; i + pattern.Length <= bytes.Count; i++)
        {
            var match = true;
            for (var j = 0; j < pattern.Length && match; j++)
            {
                match = bytes[i + j] == pattern[j];
            }

            if (match)
            {
                return i;
            }
        }

        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Task[] tasks;
        lock (_tasks)
        {
            tasks = [.. _tasks];
        }

        await Task.WhenAll(tasks);
        _stop.Dispose();
    }
}
