using System.Text;
using System.Text.Json.Nodes;

namespace Dynamo.Cli.Tests;

/// <summary>Streaming completions as a client sees them: every chunk counted, the finish reason and the usage kept.</summary>
internal static class CompletionStreams
{
    /// <summary>Streams one completion of <paramref name="maxTokens"/> tokens (EOS ignored) and reads it to the end.</summary>
    /// <param name="started">Completed once the first chunk arrived.</param>
    /// <param name="prompt">The prompt (JSON-safe text); a fixed one by default.</param>
    public static async Task<StreamResult> RunAsync(HttpClient client, int maxTokens, TaskCompletionSource? started = null, string prompt = "tell me a story about the planner", CancellationToken cancellationToken = default)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = new StringContent(
                    $$$"""{"model":"tiny","prompt":"{{{prompt}}}","max_tokens":{{{maxTokens}}},"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}""",
                    Encoding.UTF8,
                    "application/json"),
            };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return new StreamResult(0, null, null, false, $"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
            int chunks = 0;
            string? finish = null;
            int? tokens = null;
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (line == "data: [DONE]")
                {
                    return new StreamResult(chunks, finish, tokens, true, null);
                }

                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    continue;
                }

                var chunk = JsonNode.Parse(line["data: ".Length..])!;
                if (chunk["error"] is { } error)
                {
                    return new StreamResult(chunks, finish, tokens, false, error.ToJsonString());
                }

                if (chunk["choices"] is JsonArray { Count: > 0 } choices)
                {
                    chunks++;
                    started?.TrySetResult();
                    finish = (string?)choices[0]!["finish_reason"] ?? finish;
                }

                if (chunk["usage"] is JsonObject usage)
                {
                    tokens = (int?)usage["completion_tokens"];
                }
            }

            return new StreamResult(chunks, finish, tokens, false, "the stream ended without data: [DONE]");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return new StreamResult(0, null, null, false, ex.Message);
        }
    }
}

/// <summary>What one streamed completion delivered.</summary>
internal sealed record StreamResult(int Chunks, string? FinishReason, int? CompletionTokens, bool Done, string? Error)
{
    /// <summary>Whole: every token, the finish chunk and <c>[DONE]</c>.</summary>
    public bool IsComplete(int maxTokens) => Done && Error is null && FinishReason == "length" && CompletionTokens == maxTokens;
}
