using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;
using Dynamo.Llm.ToolCalling;
using Microsoft.AspNetCore.Http;

namespace Dynamo.Gateway.Forwarding;

/// <summary>
/// Renders a request of <c>POST /v1/responses</c>: one response object, or the Responses event stream
/// (<c>response.created</c>, <c>response.in_progress</c>, <c>response.output_item.added</c>,
/// <c>response.content_part.added</c>, <c>response.output_text.delta</c>…, the matching <c>.done</c> events; for each
/// tool call the model makes, a <c>function_call</c> item with <c>response.function_call_arguments.delta</c>…; then
/// <c>response.completed</c>, or <c>response.incomplete</c> when <c>max_output_tokens</c> ended it, or
/// <c>response.failed</c> when the request could not be served), each event an SSE <c>event:</c> line and a
/// <c>data:</c> object carrying its <c>type</c> and <c>sequence_number</c>. After completion it also holds what the
/// response store keeps: the response object and the assistant message in chat form.
/// </summary>
internal sealed class ResponsesWriter : IClientWriter
{
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly HttpResponse _response;
    private readonly PipeWriter _body;
    private readonly ResponsesRequest _request;
    private readonly string _model;
    private readonly string _id;
    private readonly string _itemIdSuffix;
    private readonly long _createdAt;
    private readonly StringBuilder _text = new();
    private readonly ToolCallFormat? _toolCalls;
    private readonly bool _parallelToolCalls;
    private readonly ToolCallStreamParser? _parser;
    private readonly List<ToolCallDelta> _deltas = [];
    private readonly List<Item> _items = [];
    private Utf8JsonWriter? _json;
    private string? _finishReason;
    private int _sequence;

    /// <param name="response">The client's response.</param>
    /// <param name="request">The Responses request.</param>
    /// <param name="chat">The chat request it became (its tools and tool choice).</param>
    /// <param name="id">The response id (<c>resp_…</c>).</param>
    /// <param name="createdAt">The response's <c>created_at</c>.</param>
    /// <param name="toolCallFormat">The model's tool-call format: output is read for calls when the request offers tools; null reads none.</param>
    public ResponsesWriter(HttpResponse response, ResponsesRequest request, ParsedRequest chat, string id, long createdAt, ToolCallFormat? toolCallFormat)
    {
        _response = response;
        _body = response.BodyWriter;
        _request = request;
        _model = chat.Model;
        _id = id;
        _itemIdSuffix = id["resp_".Length..];
        _createdAt = createdAt;
        _toolCalls = chat.UsesTools ? toolCallFormat : null;
        _parallelToolCalls = chat.ParallelToolCalls;
        _parser = request.Stream && _toolCalls is { } format ? new ToolCallStreamParser(format, _parallelToolCalls) : null;
    }

    public bool HasStarted { get; private set; }

    public bool DecodesText => true;

    /// <summary>The response object as completed (what <c>GET /v1/responses/{id}</c> returns); null before completion.</summary>
    public byte[]? ResponseJson { get; private set; }

    /// <summary>The assistant's output as one chat message (a JSON object), for the stored conversation; null before completion.</summary>
    public byte[]? OutputMessageJson { get; private set; }

    public void Dispose() => _json?.Dispose();

    public async ValueTask StartAsync(CancellationToken cancellationToken)
    {
        HasStarted = true;
        _response.StatusCode = StatusCodes.Status200OK;
        _response.Headers.ContentLength = null;
        if (!_request.Stream)
        {
            _response.ContentType = "application/json";
            return;
        }

        _response.ContentType = "text/event-stream";
        _response.Headers.CacheControl = "no-cache";
        WriteEvent("response.created", json => WriteResponseProperty(json, "in_progress", usage: null, error: null));
        WriteEvent("response.in_progress", json => WriteResponseProperty(json, "in_progress", usage: null, error: null));
        await _body.FlushAsync(cancellationToken);
    }

    public void OnChoice(WorkerChunk chunk)
    {
        if (chunk.ChoiceIndex != 0)
        {
            throw new InvalidDataException($"The worker sent choice index {chunk.ChoiceIndex}; a Responses request has one.");
        }

        _finishReason ??= chunk.FinishReason;
        if (!_request.Stream)
        {
            _text.Append(chunk.Text);
            return;
        }

        if (_parser is null)
        {
            if (!string.IsNullOrEmpty(chunk.Text))
            {
                AppendText(chunk.Text);
            }

            return;
        }

        _deltas.Clear();
        if (!string.IsNullOrEmpty(chunk.Text))
        {
            _parser.Append(chunk.Text, _deltas);
        }

        if (chunk.FinishReason is not null)
        {
            _parser.Finish(_deltas);
        }

        foreach (var delta in _deltas)
        {
            if (delta.IsContent)
            {
                AppendText(delta.Content!);
            }
            else
            {
                AppendCall(delta);
            }
        }
    }

    /// <summary>Streamed text: into the open message item, or a new one after a call.</summary>
    private void AppendText(string text)
    {
        if (text.Length == 0)
        {
            return;
        }

        var item = _items.Count > 0 && _items[^1] is { IsCall: false, Done: false } open ? open : OpenItem(new Item(_items.Count, "msg_" + _itemIdSuffix + Suffix(_items.Count)));
        item.Text.Append(text);
        WriteEvent("response.output_text.delta", json =>
        {
            WriteTextPosition(json, item);
            json.WriteString("delta"u8, text);
            json.WriteStartArray("logprobs"u8);
            json.WriteEndArray();
        });
    }

    /// <summary>A streamed piece of a tool call: a new function_call item on its first piece, argument deltas after.</summary>
    private void AppendCall(ToolCallDelta delta)
    {
        Item item;
        if (delta.Id is not null)
        {
            CloseOpenMessage();
            item = OpenItem(new Item(_items.Count, "fc_" + _itemIdSuffix + Suffix(_items.Count)) { CallIndex = delta.Index, CallId = delta.Id, Name = delta.Name });
        }
        else
        {
            item = _items.Last(i => i.IsCall && i.CallIndex == delta.Index);
        }

        if (delta.Arguments.Length > 0)
        {
            item.Text.Append(delta.Arguments);
            WriteEvent("response.function_call_arguments.delta", json =>
            {
                json.WriteString("item_id"u8, item.Id);
                json.WriteNumber("output_index"u8, item.OutputIndex);
                json.WriteString("delta"u8, delta.Arguments);
            });
        }
    }

    private static string Suffix(int index) => index == 0 ? "" : "_" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken) =>
        _request.Stream ? _body.FlushAsync(cancellationToken) : ValueTask.FromResult(default(FlushResult));

    public async ValueTask CompleteAsync(Usage usage, CancellationToken cancellationToken)
    {
        var status = _finishReason == "length" ? "incomplete" : "completed";
        if (!_request.Stream)
        {
            var text = _text.ToString();
            var parsed = _toolCalls is { } format ? ToolCallParser.Parse(format, text, _parallelToolCalls) : null;
            if (parsed is { Calls.Count: > 0 })
            {
                if (parsed.Content is { } content)
                {
                    _items.Add(new Item(0, "msg_" + _itemIdSuffix) { Done = true }.With(content));
                }

                foreach (var call in parsed.Calls)
                {
                    _items.Add(new Item(_items.Count, "fc_" + _itemIdSuffix + Suffix(_items.Count)) { CallId = call.Id, Name = call.Name, Done = true }.With(call.Arguments));
                }
            }
            else
            {
                _items.Add(new Item(0, "msg_" + _itemIdSuffix) { Done = true }.With(text));
            }
        }
        else
        {
            if (_items.Count == 0)
            {
                OpenItem(new Item(0, "msg_" + _itemIdSuffix));
            }

            foreach (var item in _items)
            {
                CloseItem(item);
            }
        }

        ResponseJson = Render(json => WriteResponse(json, status, usage, error: null));
        OutputMessageJson = Render(WriteOutputAsChatMessage);
        if (!_request.Stream)
        {
            _body.Write(ResponseJson);
        }
        else
        {
            var response = ResponseJson;
            WriteEvent(status == "completed" ? "response.completed" : "response.incomplete", json =>
            {
                json.WritePropertyName("response"u8);
                json.WriteRawValue(response, skipInputValidation: true);
            });
        }

        await _body.FlushAsync(cancellationToken);
    }

    /// <summary>The output as one chat message (text and tool calls), which a follow-up's conversation continues from.</summary>
    private void WriteOutputAsChatMessage(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteString("role"u8, "assistant"u8);
        var text = string.Concat(_items.Where(i => !i.IsCall).Select(i => i.Text.ToString()));
        var calls = _items.Where(i => i.IsCall).ToList();
        if (calls.Count > 0 && text.Length == 0)
        {
            json.WriteNull("content"u8);
        }
        else
        {
            json.WriteString("content"u8, text);
        }

        if (calls.Count > 0)
        {
            ClientResponseWriter.WriteToolCalls(json, [.. calls.Select(c => new ToolCall(c.CallId!, c.Name!, c.Text.ToString()))]);
        }

        json.WriteEndObject();
    }

    public async ValueTask<bool> TryFailAsync(OpenAiException error, CancellationToken cancellationToken)
    {
        if (!_request.Stream || !_response.HasStarted)
        {
            return false;
        }

        WriteEvent("response.failed", json => WriteResponseProperty(json, "failed", usage: null, error));
        await _body.FlushAsync(cancellationToken);
        return true;
    }

    private Item OpenItem(Item item)
    {
        _items.Add(item);
        WriteEvent("response.output_item.added", json =>
        {
            json.WriteNumber("output_index"u8, item.OutputIndex);
            json.WritePropertyName("item"u8);
            WriteItem(json, item, "in_progress");
        });
        if (!item.IsCall)
        {
            WriteEvent("response.content_part.added", json =>
            {
                WriteTextPosition(json, item);
                json.WritePropertyName("part"u8);
                WriteTextPart(json, "");
            });
        }

        return item;
    }

    private void CloseOpenMessage()
    {
        if (_items.Count > 0 && _items[^1] is { IsCall: false, Done: false } open)
        {
            CloseItem(open);
        }
    }

    private void CloseItem(Item item)
    {
        if (item.Done)
        {
            return;
        }

        item.Done = true;
        var text = item.Text.ToString();
        if (item.IsCall)
        {
            WriteEvent("response.function_call_arguments.done", json =>
            {
                json.WriteString("item_id"u8, item.Id);
                json.WriteNumber("output_index"u8, item.OutputIndex);
                json.WriteString("arguments"u8, text);
            });
        }
        else
        {
            WriteEvent("response.output_text.done", json =>
            {
                WriteTextPosition(json, item);
                json.WriteString("text"u8, text);
                json.WriteStartArray("logprobs"u8);
                json.WriteEndArray();
            });
            WriteEvent("response.content_part.done", json =>
            {
                WriteTextPosition(json, item);
                json.WritePropertyName("part"u8);
                WriteTextPart(json, text);
            });
        }

        WriteEvent("response.output_item.done", json =>
        {
            json.WriteNumber("output_index"u8, item.OutputIndex);
            json.WritePropertyName("item"u8);
            WriteItem(json, item, "completed");
        });
    }

    private static void WriteTextPosition(Utf8JsonWriter json, Item item)
    {
        json.WriteString("item_id"u8, item.Id);
        json.WriteNumber("output_index"u8, item.OutputIndex);
        json.WriteNumber("content_index"u8, 0);
    }

    /// <summary><c>event: TYPE</c> and <c>data: {"type":TYPE,"sequence_number":N,…}</c>.</summary>
    private void WriteEvent(string type, Action<Utf8JsonWriter> body)
    {
        _body.Write("event: "u8);
        _body.Write(Encoding.UTF8.GetBytes(type));
        _body.Write("\ndata: "u8);
        var json = Json(_body);
        json.WriteStartObject();
        json.WriteString("type"u8, type);
        json.WriteNumber("sequence_number"u8, _sequence++);
        body(json);
        json.WriteEndObject();
        json.Flush();
        _body.Write("\n\n"u8);
    }

    private void WriteResponseProperty(Utf8JsonWriter json, string status, Usage? usage, OpenAiException? error)
    {
        json.WritePropertyName("response"u8);
        WriteResponse(json, status, usage, error);
    }

    private void WriteResponse(Utf8JsonWriter json, string status, Usage? usage, OpenAiException? error)
    {
        var request = _request;
        json.WriteStartObject();
        json.WriteString("id"u8, _id);
        json.WriteString("object"u8, "response"u8);
        json.WriteNumber("created_at"u8, _createdAt);
        json.WriteString("status"u8, status);
        json.WriteBoolean("background"u8, false);
        if (error is null)
        {
            json.WriteNull("error"u8);
        }
        else
        {
            json.WriteStartObject("error"u8);
            json.WriteString("code"u8, error.Code ?? "server_error");
            json.WriteString("message"u8, error.Message);
            json.WriteEndObject();
        }

        if (status == "incomplete")
        {
            json.WriteStartObject("incomplete_details"u8);
            json.WriteString("reason"u8, "max_output_tokens"u8);
            json.WriteEndObject();
        }
        else
        {
            json.WriteNull("incomplete_details"u8);
        }

        ClientResponseWriter.WriteOptionalString(json, "instructions"u8, request.Instructions);
        WriteNumberOrNull(json, "max_output_tokens"u8, request.MaxOutputTokens);
        json.WriteString("model"u8, _model);
        json.WriteStartArray("output"u8);
        if (status is "completed" or "incomplete")
        {
            foreach (var item in _items)
            {
                WriteItem(json, item, "completed");
            }
        }

        json.WriteEndArray();
        json.WriteBoolean("parallel_tool_calls"u8, request.ParallelToolCalls);
        ClientResponseWriter.WriteOptionalString(json, "previous_response_id"u8, request.PreviousResponseId);
        json.WriteStartObject("reasoning"u8);
        json.WriteNull("effort"u8);
        json.WriteNull("summary"u8);
        json.WriteEndObject();
        json.WriteString("service_tier"u8, "default"u8);
        json.WriteBoolean("store"u8, request.Store);
        json.WriteNumber("temperature"u8, request.Temperature);
        json.WritePropertyName("text"u8);
        if (request.Text is { } text && text.TryGetProperty("format", out var format) && format.ValueKind == JsonValueKind.Object)
        {
            json.WriteStartObject();
            json.WritePropertyName("format"u8);
            format.WriteTo(json);
            json.WriteString("verbosity"u8, "medium"u8);
            json.WriteEndObject();
        }
        else
        {
            json.WriteStartObject();
            json.WriteStartObject("format"u8);
            json.WriteString("type"u8, "text"u8);
            json.WriteEndObject();
            json.WriteString("verbosity"u8, "medium"u8);
            json.WriteEndObject();
        }

        json.WritePropertyName("tool_choice"u8);
        if (request.ToolChoice is { } choice)
        {
            choice.WriteTo(json);
        }
        else
        {
            json.WriteStringValue("auto"u8);
        }

        json.WritePropertyName("tools"u8);
        if (request.Tools is { } tools)
        {
            tools.WriteTo(json);
        }
        else
        {
            json.WriteStartArray();
            json.WriteEndArray();
        }

        json.WriteNumber("top_logprobs"u8, 0);
        json.WriteNumber("top_p"u8, request.TopP);
        json.WriteString("truncation"u8, "disabled"u8);
        if (usage is null)
        {
            json.WriteNull("usage"u8);
        }
        else
        {
            json.WriteStartObject("usage"u8);
            json.WriteNumber("input_tokens"u8, usage.PromptTokens);
            json.WriteStartObject("input_tokens_details"u8);
            json.WriteNumber("cached_tokens"u8, usage.PromptTokensDetails.CachedTokens);
            json.WriteEndObject();
            json.WriteNumber("output_tokens"u8, usage.CompletionTokens);
            json.WriteStartObject("output_tokens_details"u8);
            json.WriteNumber("reasoning_tokens"u8, 0);
            json.WriteEndObject();
            json.WriteNumber("total_tokens"u8, usage.TotalTokens);
            json.WriteEndObject();
        }

        ClientResponseWriter.WriteOptionalString(json, "user"u8, request.User);
        json.WritePropertyName("metadata"u8);
        if (request.Metadata is { } metadata)
        {
            metadata.WriteTo(json);
        }
        else
        {
            json.WriteStartObject();
            json.WriteEndObject();
        }

        json.WriteEndObject();
    }

    /// <summary>A message item (<c>in_progress</c> ones with no content yet) or a function_call item.</summary>
    private static void WriteItem(Utf8JsonWriter json, Item item, string status)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, item.Id);
        if (item.IsCall)
        {
            json.WriteString("type"u8, "function_call"u8);
            json.WriteString("status"u8, status);
            json.WriteString("call_id"u8, item.CallId);
            json.WriteString("name"u8, item.Name);
            json.WriteString("arguments"u8, status == "completed" ? item.Text.ToString() : "");
        }
        else
        {
            json.WriteString("type"u8, "message"u8);
            json.WriteString("status"u8, status);
            json.WriteString("role"u8, "assistant"u8);
            json.WriteStartArray("content"u8);
            if (status == "completed")
            {
                WriteTextPart(json, item.Text.ToString());
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
    }

    private static void WriteTextPart(Utf8JsonWriter json, string text)
    {
        json.WriteStartObject();
        json.WriteString("type"u8, "output_text"u8);
        json.WriteString("text"u8, text);
        json.WriteStartArray("annotations"u8);
        json.WriteEndArray();
        json.WriteStartArray("logprobs"u8);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteNumberOrNull(Utf8JsonWriter json, ReadOnlySpan<byte> name, int? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteNumber(name, value.Value);
        }
    }

    private Utf8JsonWriter Json(IBufferWriter<byte> output)
    {
        if (_json is null)
        {
            _json = new Utf8JsonWriter(output, WriterOptions);
        }
        else
        {
            _json.Reset(output);
        }

        return _json;
    }

    private byte[] Render(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512 + (_text.Length * 2));
        var json = Json(buffer);
        write(json);
        json.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>One output item: a message (its text) or a function call (its arguments).</summary>
    private sealed class Item(int outputIndex, string id)
    {
        public int OutputIndex { get; } = outputIndex;

        public string Id { get; } = id;

        public StringBuilder Text { get; } = new();

        public string? CallId { get; init; }

        public string? Name { get; init; }

        /// <summary>The parser's index of the call (streams).</summary>
        public int CallIndex { get; init; } = -1;

        public bool IsCall => CallId is not null;

        public bool Done { get; set; }

        public Item With(string text)
        {
            Text.Append(text);
            return this;
        }
    }
}
