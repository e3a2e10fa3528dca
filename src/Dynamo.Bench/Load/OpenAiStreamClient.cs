using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Dynamo.Bench.Metrics;
using Dynamo.Bench.Workload;
using Dynamo.Contracts.OpenAi;

namespace Dynamo.Bench.Load;

/// <summary>
/// Sends one streaming <c>/v1/completions</c> request with a token-id prompt (vLLM, SGLang and this project's
/// gateway all accept them) and <c>ignore_eos</c>, so the output length is the one asked for, and times it.
/// TTFT is the first chunk with a choice; the output token count is <c>usage.completion_tokens</c> when the
/// server reports it, else the number of chunks with a choice. The token gaps (<c>itl_token_ms</c>) are the gaps
/// between chunks with a choice: one token each from this gateway and vLLM; a server that sends several tokens a
/// chunk shows fewer, longer gaps.
/// </summary>
public sealed class OpenAiStreamClient
{
    private readonly HttpClient _http;
    private readonly Uri _completions;
    private readonly string _model;

    public OpenAiStreamClient(HttpClient http, Uri baseUrl, string model)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(baseUrl);
        _http = http;
        _completions = new Uri(ApiRoot(baseUrl), "completions");
        _model = model;
    }

    /// <summary><c>http://host:port/v1/</c> from either <c>http://host:port</c> or <c>http://host:port/v1</c>.</summary>
    public static Uri ApiRoot(Uri baseUrl)
    {
        ArgumentNullException.ThrowIfNull(baseUrl);
        string text = baseUrl.AbsoluteUri.TrimEnd('/');
        return new Uri(text.EndsWith("/v1", StringComparison.Ordinal) ? text + "/" : text + "/v1/");
    }

    /// <summary>
    /// The model to send (<paramref name="wanted"/>, or the first one the server lists at <c>/v1/models</c>) and its
    /// context length when the listing says it (<c>max_model_len</c>, as vLLM and Dynamo write it).
    /// </summary>
    public static async Task<(string Name, int? MaxModelLen)> DescribeModelAsync(HttpClient http, Uri baseUrl, string? wanted, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        HttpResponseMessage response;
        try
        {
            response = await http.GetAsync(new Uri(ApiRoot(baseUrl), "models"), cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException) when (wanted is not null)
        {
            // The model is named: the listing only adds its context length, so a server without one still runs.
            return (wanted, null);
        }

        using var owned = response;
        if (!response.IsSuccessStatusCode && wanted is not null)
        {
            return (wanted, null);
        }

        response.EnsureSuccessStatusCode();
        using JsonDocument body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach (JsonElement model in body.RootElement.GetProperty("data").EnumerateArray())
        {
            if (model.TryGetProperty("id", out JsonElement id) && id.GetString() is { Length: > 0 } name && (wanted is null || name == wanted))
            {
                int? context = model.TryGetProperty("max_model_len", out JsonElement length) && length.TryGetInt32(out int tokens) ? tokens : null;
                return (name, context);
            }
        }

        return wanted is not null ? (wanted, null) : throw new InvalidOperationException($"{baseUrl} lists no models at /v1/models; pass --model.");
    }

    public async Task<RequestResult> SendAsync(BenchRequest request, int[] prompt, double startS, bool measured, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(prompt);
        long started = Stopwatch.GetTimestamp();
        double? ttft = null;
        int chunks = 0;
        double lastChunkMs = 0;
        var gaps = new List<float>();
        int? usageTokens = null;
        int? cached = null;
        bool done = false;
        string? worker = null;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        RequestResult Result(string? error, string? message)
        {
            double e2e = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            int tokens = usageTokens ?? chunks;
            return new RequestResult
            {
                Index = request.Index,
                StartS = startS,
                InputTokens = prompt.Length,
                OutputTokens = tokens,
                CachedTokens = cached,
                TtftMs = ttft,
                ItlMs = ttft is { } t && tokens > 1 ? (e2e - t) / (tokens - 1) : null,
                E2eMs = e2e,
                TokenGapsMs = error is null && gaps.Count > 0 ? gaps : null,
                Error = error,
                ErrorMessage = message,
                Measured = measured,
                Worker = worker,
            };
        }

        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, _completions) { Content = new ByteArrayContent(Body(prompt, request.OutputLength)) };
            message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using HttpResponseMessage response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            worker = WorkerOf(response);
            if (!response.IsSuccessStatusCode)
            {
                string body = await response.Content.ReadAsStringAsync(deadline.Token).ConfigureAwait(false);
                return Result(ErrorKinds.Http((int)response.StatusCode), Truncate(body));
            }

            using Stream stream = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
            using var reader = new StreamReader(stream);
            while (await reader.ReadLineAsync(deadline.Token).ConfigureAwait(false) is { } line)
            {
                if (!line.StartsWith("data:", StringComparison.Ordinal))
                {
                    continue;
                }

                ReadOnlySpan<char> data = line.AsSpan(5).Trim();
                if (data.SequenceEqual("[DONE]"))
                {
                    done = true;
                    break;
                }

                using JsonDocument chunk = JsonDocument.Parse(data.ToString());
                JsonElement root = chunk.RootElement;
                if (root.TryGetProperty("error", out JsonElement error))
                {
                    return Result(ErrorKinds.Stream, Truncate(error.ToString()));
                }

                if (root.TryGetProperty("choices", out JsonElement choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0)
                {
                    double now = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    if (ttft is null)
                    {
                        ttft = now;
                    }
                    else
                    {
                        gaps.Add((float)(now - lastChunkMs));
                    }

                    lastChunkMs = now;
                    chunks++;
                }

                if (root.TryGetProperty("usage", out JsonElement usage) && usage.ValueKind == JsonValueKind.Object)
                {
                    if (usage.TryGetProperty("completion_tokens", out JsonElement completion) && completion.TryGetInt32(out int n))
                    {
                        usageTokens = n;
                    }

                    if (usage.TryGetProperty("prompt_tokens_details", out JsonElement details) && details.ValueKind == JsonValueKind.Object
                        && details.TryGetProperty("cached_tokens", out JsonElement c) && c.TryGetInt32(out int k))
                    {
                        cached = k;
                    }
                }
            }

            return done ? Result(null, null) : Result(ErrorKinds.Stream, "the stream ended without [DONE]");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Result(ErrorKinds.Cancelled, "the run was stopped");
        }
        catch (OperationCanceledException)
        {
            return Result(ErrorKinds.Timeout, $"no complete response within {timeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException error) when (error.StatusCode is null)
        {
            return Result(ErrorKinds.Connection, error.Message);
        }
        catch (HttpRequestException error)
        {
            return Result(ErrorKinds.Http((int)(error.StatusCode ?? HttpStatusCode.InternalServerError)), error.Message);
        }
        catch (Exception error) when (error is JsonException or IOException)
        {
            return Result(ErrorKinds.Stream, error.Message);
        }
    }

    /// <summary>
    /// The worker that served the response, from the gateway's headers: <c>decode</c>, or <c>prefill&gt;decode</c>
    /// when a prefill worker computed the prompt (the form replay writes); null when the server does not say (a
    /// gateway with <c>WorkerHeaders</c> off, or another server).
    /// </summary>
    internal static string? WorkerOf(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues(ResponseHeaders.Worker, out var workers))
        {
            return null;
        }

        var decode = string.Join(",", workers);
        return response.Headers.TryGetValues(ResponseHeaders.PrefillWorker, out var prefills) ? $"{string.Join(",", prefills)}>{decode}" : decode;
    }

    private byte[] Body(int[] prompt, int maxTokens)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + (prompt.Length * 6));
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("model", _model);
            json.WriteStartArray("prompt");
            foreach (int token in prompt)
            {
                json.WriteNumberValue(token);
            }

            json.WriteEndArray();
            json.WriteNumber("max_tokens", maxTokens);
            json.WriteBoolean("ignore_eos", true);
            json.WriteNumber("temperature", 0);
            json.WriteBoolean("stream", true);
            json.WriteStartObject("stream_options");
            json.WriteBoolean("include_usage", true);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static string Truncate(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
