using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;
using Dynamo.Llm.ToolCalling;
using Microsoft.AspNetCore.Http;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Gateway.Forwarding;

/// <summary>
/// Turns the worker's completion chunks into what the client asked for: chat or completions, streamed as SSE
/// or gathered into one JSON response. Ids, <c>created</c> and <c>model</c> are the gateway's, so a migrated
/// request keeps one identity; worker-only fields (<c>token_ids</c>, <c>kv_transfer_params</c>) stay inside.
/// </summary>
/// <remarks>
/// Tool calls are read here, per choice, from the text the client would otherwise get as content: it is the text after
/// the worker applied stop strings and special-token skipping, and a migrated request keeps its writer, so a choice's
/// parser sees one answer however many workers wrote it. Whole responses parse the answer at the end
/// (<see cref="ToolCallParser"/>); streams parse it as it comes (<see cref="ToolCallStreamParser"/>) and send OpenAI's
/// <c>delta.tool_calls</c> chunks.
/// </remarks>
internal sealed class ClientResponseWriter : IClientWriter
{
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly HttpResponse _response;
    private readonly PipeWriter _body;
    private readonly RequestKind _kind;
    private readonly bool _stream;
    private readonly bool _includeUsage;
    private readonly string _id;
    private readonly string _model;
    private readonly long _created;
    private readonly Choice[] _choices;
    private readonly ToolCallFormat? _toolCalls;
    private readonly bool _parallelToolCalls;
    private readonly List<ToolCallDelta> _deltas = [];
    private readonly LogprobsJson? _logprobs;
    private readonly bool _echoesLogprobs;
    private Utf8JsonWriter? _json;
    private byte[]? _chunkPrefix;
    private bool _started;

    /// <param name="response">The client's response.</param>
    /// <param name="request">The client's request.</param>
    /// <param name="choiceCount">Choices of the response (prompts × n).</param>
    /// <param name="id">The response id.</param>
    /// <param name="created">The response's <c>created</c> time.</param>
    /// <param name="toolCallFormat">The model's tool-call format: answers are parsed for calls when the request uses
    /// tools (<see cref="ParsedRequest.UsesTools"/>); null parses nothing.</param>
    /// <param name="tokenizer">The model's tokenizer, for requests with <c>logprobs</c> (tokens' text and bytes from
    /// the ids workers send) or <c>echo</c> (a token-id prompt's text).</param>
    public ClientResponseWriter(HttpResponse response, ParsedRequest request, int choiceCount, string id, long created, ToolCallFormat? toolCallFormat = null,
        Tokenizer? tokenizer = null)
    {
        _response = response;
        _body = response.BodyWriter;
        _kind = request.Kind;
        _stream = request.Stream;
        _includeUsage = request.IncludeUsage;
        _model = request.Model;
        _id = id;
        _created = created;
        _toolCalls = request.Kind == RequestKind.Chat && request.UsesTools ? toolCallFormat : null;
        _parallelToolCalls = request.ParallelToolCalls;
        _echoesLogprobs = request.EchoesLogprobs;
        if (request.Logprobs is not null)
        {
            _logprobs = new LogprobsJson(tokenizer ?? throw new ArgumentNullException(nameof(tokenizer)), request.ReturnTokensAsTokenIds);
        }

        _choices = new Choice[choiceCount];
        for (var i = 0; i < _choices.Length; i++)
        {
            _choices[i] = new Choice { Parser = _stream && _toolCalls is { } format ? new ToolCallStreamParser(format, _parallelToolCalls) : null };
            if (request.Echo && request.Kind == RequestKind.Completion)
            {
                // Choice i answers prompt i / n; its text starts with that prompt's.
                var prompt = request.Prompts[i / request.N];
                var echo = prompt.Text ?? (tokenizer ?? throw new ArgumentNullException(nameof(tokenizer))).Decode(prompt.TokenIds!) ?? "";
                _choices[i].Echo = echo;
                _choices[i].TextOffset = echo.Length;

                // With logprobs the prompt's tokens lead the choice's logprobs: a stream's echo chunk waits for them (the
                // worker sends them with the choice's first token).
                _choices[i].AwaitsPrompt = request.EchoesLogprobs;
                if (!_stream)
                {
                    _choices[i].Text.Append(echo);
                }
            }
        }
    }

    public bool HasStarted => _started;

    public void Dispose() => _json?.Dispose();

    /// <summary>Sends the headers and, for chat streams, the role chunk of each choice.</summary>
    public async ValueTask StartAsync(CancellationToken cancellationToken)
    {
        _started = true;
        _response.StatusCode = StatusCodes.Status200OK;
        _response.Headers.ContentLength = null;
        if (!_stream)
        {
            _response.ContentType = "application/json";
            return;
        }

        _response.ContentType = "text/event-stream";
        _response.Headers.CacheControl = "no-cache";
        if (_kind == RequestKind.Chat)
        {
            for (var i = 0; i < _choices.Length; i++)
            {
                WriteChatChunk(i, content: null, role: true, finishReason: null);
            }
        }
        else
        {
            for (var i = 0; i < _choices.Length; i++)
            {
                if (_choices[i].Echo is { } echo && !_choices[i].AwaitsPrompt)
                {
                    // The prompt's text first, as its own chunk (as vLLM streams an echo).
                    WriteCompletionChunk(i, JsonString(echo), finishReason: null);
                }
            }
        }

        await _body.FlushAsync(cancellationToken);
    }

    /// <summary>Chat and completions streams end with the generic error event (<see cref="Errors.ErrorWriter"/>).</summary>
    public ValueTask<bool> TryFailAsync(OpenAiException error, CancellationToken cancellationToken) => ValueTask.FromResult(false);

    /// <summary>Whether <see cref="OnChoice"/> needs the chunks' text decoded (<see cref="WorkerChunk.Text"/>): whole
    /// responses gather it, and streams whose answers are parsed for tool calls read it.</summary>
    public bool DecodesText => !_stream || _toolCalls is not null;

    /// <summary>
    /// One worker chunk: new text for a choice, maybe its finish reason. Buffered: the relay flushes once it has
    /// written every chunk that arrived together, so a burst of tokens costs one write.
    /// </summary>
    public void OnChoice(WorkerChunk chunk)
    {
        var index = chunk.ChoiceIndex;
        if ((uint)index >= (uint)_choices.Length)
        {
            throw new InvalidDataException($"The worker sent choice index {index}; the request has {_choices.Length} choices.");
        }

        var choice = _choices[index];
        var finishReason = chunk.FinishReason;
        choice.FinishReason ??= finishReason;
        if (choice.AwaitsPrompt)
        {
            OnPrompt(index, choice, chunk);
        }

        if (!_stream)
        {
            choice.Text.Append(chunk.Text);
            if (_logprobs is not null)
            {
                choice.Logprobs.AddRange(chunk.Logprobs);
            }

            return;
        }

        if (_logprobs is not null)
        {
            // Log-probabilities go with the chunk of their tokens: written whole, not spliced.
            OnLogprobsChoice(index, choice, chunk, finishReason);
            return;
        }

        if (choice.Parser is { } parser)
        {
            OnToolChoice(index, parser, chunk.Text, finishReason);
            return;
        }

        var hasText = chunk.HasText && chunk.TextJson.Length > 2;
        if (_kind == RequestKind.Chat)
        {
            if (hasText)
            {
                WriteContentChunk(index, "{\"content\":"u8, chunk.TextJson, "},\"logprobs\":null,\"finish_reason\":null}]}\n\n"u8);
            }

            if (finishReason is not null)
            {
                WriteChatChunk(index, content: null, role: false, finishReason);
            }
        }
        else if (finishReason is null)
        {
            WriteContentChunk(index, ""u8, hasText ? chunk.TextJson : "\"\""u8, ",\"logprobs\":null,\"finish_reason\":null}]}\n\n"u8);
        }
        else
        {
            WriteCompletionChunk(index, chunk.TextJson, finishReason);
        }
    }

    /// <summary>
    /// Echo with logprobs, a choice's first chunk: it carries the prompt's tokens and scores (<c>prompt_logprobs</c>).
    /// They lead the choice's logprobs; the output's <c>text_offset</c>s continue after the prompt tokens' texts (as
    /// vLLM counts). A stream sends the echoed text with them now, as its own chunk.
    /// </summary>
    private void OnPrompt(int index, Choice choice, WorkerChunk chunk)
    {
        if (chunk.PromptLogprobs.Count == 0)
        {
            throw new InvalidDataException($"The worker's first chunk of choice {index} carries no prompt_logprobs; the request asked for them (echo with logprobs).");
        }

        choice.AwaitsPrompt = false;
        if (!_stream)
        {
            choice.Logprobs.AddRange(chunk.PromptLogprobs);
            return;
        }

        var offset = 0;

        var writer = BeginCompletionChoice(index);
        writer.WriteString("text"u8, choice.Echo);
        _logprobs!.WriteCompletion(writer, CollectionsMarshal.AsSpan(chunk.PromptLogprobs), ref offset);
        choice.TextOffset = offset;
        EndChoice(writer, finishReason: null);
    }

    private void OnLogprobsChoice(int index, Choice choice, WorkerChunk chunk, string? finishReason)
    {
        var logged = CollectionsMarshal.AsSpan(chunk.Logprobs);
        var hasText = chunk.HasText && chunk.TextJson.Length > 2;
        if (_kind == RequestKind.Chat)
        {
            if (hasText || !logged.IsEmpty)
            {
                var json = BeginChatDelta(index);
                json.WritePropertyName("content"u8);
                json.WriteRawValue(hasText ? chunk.TextJson : "\"\""u8, skipInputValidation: true);
                json.WriteEndObject();
                if (logged.IsEmpty)
                {
                    json.WriteNull("logprobs"u8);
                }
                else
                {
                    _logprobs!.WriteChat(json, logged);
                }

                EndChoice(json, finishReason: null);
            }

            if (finishReason is not null)
            {
                WriteChatChunk(index, content: null, role: false, finishReason);
            }

            return;
        }

        var writer = BeginCompletionChoice(index, hasText ? chunk.TextJson : default);
        if (logged.IsEmpty)
        {
            writer.WriteNull("logprobs"u8);
        }
        else
        {
            var offset = choice.TextOffset;
            _logprobs!.WriteCompletion(writer, logged, ref offset);
            choice.TextOffset = offset;
        }

        EndChoice(writer, finishReason);
    }

    private void OnToolChoice(int index, ToolCallStreamParser parser, string? text, string? finishReason)
    {
        _deltas.Clear();
        if (!string.IsNullOrEmpty(text))
        {
            parser.Append(text, _deltas);
        }

        if (finishReason is not null)
        {
            parser.Finish(_deltas);
        }

        foreach (var delta in _deltas)
        {
            if (delta.IsContent)
            {
                WriteChatChunk(index, delta.Content, role: false, finishReason: null);
            }
            else
            {
                WriteToolCallChunk(index, delta);
            }
        }

        if (finishReason is not null)
        {
            WriteChatChunk(index, content: null, role: false, FinishWithCalls(finishReason, parser.CallCount));
        }
    }

    /// <summary>An answer that called tools ends with <c>tool_calls</c>, unless it was cut (<c>length</c>).</summary>
    private static string FinishWithCalls(string finishReason, int calls) => calls > 0 && finishReason == "stop" ? "tool_calls" : finishReason;

    /// <summary>Sends what the stream has buffered; nothing for a whole (non-streamed) response.</summary>
    public ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken) =>
        _stream ? _body.FlushAsync(cancellationToken) : ValueTask.FromResult(default(FlushResult));

    /// <summary>The end: usage chunk and [DONE] for streams, the whole body otherwise.</summary>
    public async ValueTask CompleteAsync(Usage usage, CancellationToken cancellationToken)
    {
        if (_stream)
        {
            if (_includeUsage)
            {
                WriteUsageChunk(usage);
            }

            _body.Write("data: [DONE]\n\n"u8);
        }
        else
        {
            WriteFullResponse(usage);
        }

        await _body.FlushAsync(cancellationToken);
    }

    private Utf8JsonWriter Json()
    {
        if (_json is null)
        {
            _json = new Utf8JsonWriter(_body, WriterOptions);
        }
        else
        {
            _json.Reset(_body);
        }

        return _json;
    }

    private void WriteHeader(Utf8JsonWriter json, string objectName)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, _id);
        json.WriteString("object"u8, objectName);
        json.WriteNumber("created"u8, _created);
        json.WriteString("model"u8, _model);
        json.WriteNull("system_fingerprint"u8);
    }

    /// <summary>
    /// The hot path of a stream: <c>data: </c> + the response's fixed header bytes + the choice index + the
    /// worker's text literal, spliced as bytes.
    /// </summary>
    private void WriteContentChunk(int index, ReadOnlySpan<byte> beforeText, ReadOnlySpan<byte> textJson, ReadOnlySpan<byte> suffix)
    {
        var prefix = _chunkPrefix ??= BuildChunkPrefix();
        var span = _body.GetSpan(prefix.Length + 11 + beforeText.Length + textJson.Length + suffix.Length);
        prefix.CopyTo(span);
        var written = prefix.Length;
        System.Buffers.Text.Utf8Formatter.TryFormat(index, span[written..], out var digits);
        written += digits;
        var separator = _kind == RequestKind.Chat ? ",\"delta\":"u8 : ",\"text\":"u8;
        separator.CopyTo(span[written..]);
        written += separator.Length;
        beforeText.CopyTo(span[written..]);
        written += beforeText.Length;
        textJson.CopyTo(span[written..]);
        written += textJson.Length;
        suffix.CopyTo(span[written..]);
        _body.Advance(written + suffix.Length);
    }

    /// <summary><c>data: {"id":…,"object":…,"created":…,"model":…,"system_fingerprint":null,"choices":[{"index":</c></summary>
    private byte[] BuildChunkPrefix()
    {
        var buffer = new ArrayBufferWriter<byte>(160);
        buffer.Write("data: "u8);
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteHeader(json, _kind == RequestKind.Chat ? "chat.completion.chunk" : "text_completion");
            json.WriteStartArray("choices"u8);
            json.WriteStartObject();
            json.WritePropertyName("index"u8);
        }

        // The writer has emitted '"index":' and waits for the value, which each chunk splices in.
        return buffer.WrittenSpan.ToArray();
    }

    private void WriteCompletionChunk(int index, ReadOnlySpan<byte> textJson, string? finishReason)
    {
        var json = BeginCompletionChoice(index, textJson);
        json.WriteNull("logprobs"u8);
        EndChoice(json, finishReason);
    }

    /// <summary><c>data: {header, "choices": [{"index": i</c>: what every completions chunk opens with.</summary>
    private Utf8JsonWriter BeginCompletionChoice(int index)
    {
        _body.Write("data: "u8);
        var json = Json();
        WriteHeader(json, "text_completion");
        json.WriteStartArray("choices"u8);
        json.WriteStartObject();
        json.WriteNumber("index"u8, index);
        return json;
    }

    /// <summary><see cref="BeginCompletionChoice(int)"/> and <c>"text": T</c>, T already JSON ("" when the text is empty).</summary>
    private Utf8JsonWriter BeginCompletionChoice(int index, ReadOnlySpan<byte> textJson)
    {
        var json = BeginCompletionChoice(index);
        json.WritePropertyName("text"u8);
        json.WriteRawValue(textJson.Length >= 2 ? textJson : "\"\""u8, skipInputValidation: true);
        return json;
    }

    /// <summary><c>data: {header, "choices": [{"index": i, "delta": {</c>: what every chat chunk opens with.</summary>
    private Utf8JsonWriter BeginChatDelta(int index)
    {
        _body.Write("data: "u8);
        var json = Json();
        WriteHeader(json, "chat.completion.chunk");
        json.WriteStartArray("choices"u8);
        json.WriteStartObject();
        json.WriteNumber("index"u8, index);
        json.WriteStartObject("delta"u8);
        return json;
    }

    /// <summary><c>}, "logprobs": null, "finish_reason": …}]}</c> and the event's end.</summary>
    private void EndChatDelta(Utf8JsonWriter json, string? finishReason)
    {
        json.WriteEndObject();
        json.WriteNull("logprobs"u8);
        EndChoice(json, finishReason);
    }

    /// <summary><c>"finish_reason": …}]}</c> and the event's end.</summary>
    private void EndChoice(Utf8JsonWriter json, string? finishReason)
    {
        WriteFinish(json, finishReason);
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
        json.Flush();
        _body.Write("\n\n"u8);
    }

    private void WriteChatChunk(int index, string? content, bool role, string? finishReason)
    {
        var json = BeginChatDelta(index);
        if (role)
        {
            json.WriteString("role"u8, "assistant"u8);
            json.WriteString("content"u8, ""u8);
        }
        else if (content is not null)
        {
            json.WriteString("content"u8, content);
        }

        EndChatDelta(json, finishReason);
    }

    /// <summary>One piece of a tool call: <c>delta.tool_calls[{index, id, type, function: {name, arguments}}]</c> on the
    /// call's first piece, <c>[{index, function: {arguments}}]</c> after.</summary>
    private void WriteToolCallChunk(int index, ToolCallDelta delta)
    {
        var json = BeginChatDelta(index);
        json.WriteStartArray("tool_calls"u8);
        json.WriteStartObject();
        json.WriteNumber("index"u8, delta.Index);
        if (delta.Id is not null)
        {
            json.WriteString("id"u8, delta.Id);
            json.WriteString("type"u8, "function"u8);
        }

        json.WriteStartObject("function"u8);
        if (delta.Name is not null)
        {
            json.WriteString("name"u8, delta.Name);
        }

        json.WriteString("arguments"u8, delta.Arguments);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndArray();
        EndChatDelta(json, finishReason: null);
    }

    private void WriteUsageChunk(Usage usage)
    {
        _body.Write("data: "u8);
        var json = Json();
        WriteHeader(json, _kind == RequestKind.Chat ? "chat.completion.chunk" : "text_completion");
        json.WriteStartArray("choices"u8);
        json.WriteEndArray();
        WriteUsage(json, usage);
        json.WriteEndObject();
        json.Flush();
        _body.Write("\n\n"u8);
    }

    private void WriteFullResponse(Usage usage)
    {
        var json = Json();
        var chat = _kind == RequestKind.Chat;
        WriteHeader(json, chat ? "chat.completion" : "text_completion");
        json.WriteStartArray("choices"u8);
        for (var i = 0; i < _choices.Length; i++)
        {
            var choice = _choices[i];
            json.WriteStartObject();
            json.WriteNumber("index"u8, i);
            var finishReason = choice.FinishReason ?? "stop";
            if (chat)
            {
                json.WriteStartObject("message"u8);
                json.WriteString("role"u8, "assistant"u8);
                var text = choice.Text.ToString();
                var parsed = _toolCalls is { } format ? ToolCallParser.Parse(format, text, _parallelToolCalls) : null;
                if (parsed is { Calls.Count: > 0 })
                {
                    WriteOptionalString(json, "content"u8, parsed.Content);
                    json.WriteNull("refusal"u8);
                    WriteToolCalls(json, parsed.Calls);
                    finishReason = FinishWithCalls(finishReason, parsed.Calls.Count);
                }
                else
                {
                    json.WriteString("content"u8, text);
                    json.WriteNull("refusal"u8);
                }

                json.WriteEndObject();
            }
            else
            {
                json.WriteString("text"u8, choice.Text.ToString());
            }

            if (_logprobs is null)
            {
                json.WriteNull("logprobs"u8);
            }
            else if (chat)
            {
                _logprobs.WriteChat(json, CollectionsMarshal.AsSpan(choice.Logprobs));
            }
            else
            {
                // Echo with logprobs: the prompt's tokens lead, offsets from 0; else the output's start after the echo.
                var offset = choice.Echo is { } echo && !_echoesLogprobs ? echo.Length : 0;
                _logprobs.WriteCompletion(json, CollectionsMarshal.AsSpan(choice.Logprobs), ref offset);
            }

            WriteFinish(json, finishReason);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        WriteUsage(json, usage);
        json.WriteEndObject();
        json.Flush();
    }

    /// <summary><c>"tool_calls": [{id, type: "function", function: {name, arguments}}]</c>, as chat messages carry them.</summary>
    internal static void WriteToolCalls(Utf8JsonWriter json, IReadOnlyList<ToolCall> calls)
    {
        json.WriteStartArray("tool_calls"u8);
        foreach (var call in calls)
        {
            json.WriteStartObject();
            json.WriteString("id"u8, call.Id);
            json.WriteString("type"u8, "function"u8);
            json.WriteStartObject("function"u8);
            json.WriteString("name"u8, call.Name);
            json.WriteString("arguments"u8, call.Arguments);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    /// <summary><paramref name="value"/> as a JSON string literal.</summary>
    private static byte[] JsonString(string value)
    {
        var buffer = new ArrayBufferWriter<byte>(value.Length + 16);
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStringValue(value);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A string property, or null when <paramref name="value"/> is.</summary>
    internal static void WriteOptionalString(Utf8JsonWriter json, ReadOnlySpan<byte> name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private static void WriteFinish(Utf8JsonWriter json, string? finishReason)
    {
        if (finishReason is null)
        {
            json.WriteNull("finish_reason"u8);
        }
        else
        {
            json.WriteString("finish_reason"u8, finishReason);
        }
    }

    private static void WriteUsage(Utf8JsonWriter json, Usage usage)
    {
        json.WriteStartObject("usage"u8);
        json.WriteNumber("prompt_tokens"u8, usage.PromptTokens);
        json.WriteNumber("completion_tokens"u8, usage.CompletionTokens);
        json.WriteNumber("total_tokens"u8, usage.TotalTokens);
        json.WriteStartObject("prompt_tokens_details"u8);
        json.WriteNumber("cached_tokens"u8, usage.PromptTokensDetails.CachedTokens);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private sealed class Choice
    {
        public StringBuilder Text { get; } = new();

        public string? FinishReason { get; set; }

        /// <summary>The choice's tool-call parser, in streams whose answers are parsed.</summary>
        public ToolCallStreamParser? Parser { get; init; }

        /// <summary>Whole responses that asked for log-probabilities: each token's, gathered.</summary>
        public List<LoggedToken> Logprobs { get; } = [];

        /// <summary>Completions with <c>echo</c>: the prompt's text, which the choice's text starts with.</summary>
        public string? Echo { get; set; }

        /// <summary>Echo with logprobs: the prompt's tokens and scores have not come yet (in streams, nor the echoed text).</summary>
        public bool AwaitsPrompt { get; set; }

        /// <summary>Completion streams: <c>text_offset</c> of the next token (after the echoed prompt and the tokens so far).</summary>
        public int TextOffset { get; set; }
    }
}
