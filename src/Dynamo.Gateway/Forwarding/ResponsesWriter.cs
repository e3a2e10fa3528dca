using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Protocol;
using Microsoft.AspNetCore.Http;

namespace Dynamo.Gateway.Forwarding;

/// <summary>
/// Renders a request of <c>POST /v1/responses</c>: one response object, or the Responses event stream
/// (<c>response.created</c>, <c>response.in_progress</c>, <c>response.output_item.added</c>,
/// <c>response.content_part.added</c>, <c>response.output_text.delta</c>…, the matching <c>.done</c> events, then
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
    private readonly string _messageId;
    private readonly long _createdAt;
    private readonly StringBuilder _text = new();
    private Utf8JsonWriter? _json;
    private string? _finishReason;
    private bool _itemOpen;
    private int _sequence;

    public ResponsesWriter(HttpResponse response, ResponsesRequest request, string model, string id, long createdAt)
    {
        _response = response;
        _body = response.BodyWriter;
        _request = request;
        _model = model;
        _id = id;
        _messageId = "msg_" + id["resp_".Length..];
        _createdAt = createdAt;
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
        if (string.IsNullOrEmpty(chunk.Text))
        {
            return;
        }

        _text.Append(chunk.Text);
        if (_request.Stream)
        {
            OpenItem();
            WriteEvent("response.output_text.delta", json =>
            {
                WriteItemPosition(json);
                json.WriteString("delta"u8, chunk.Text);
                json.WriteStartArray("logprobs"u8);
                json.WriteEndArray();
            });
        }
    }

    public ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken) =>
        _request.Stream ? _body.FlushAsync(cancellationToken) : ValueTask.FromResult(default(FlushResult));

    public async ValueTask CompleteAsync(Usage usage, CancellationToken cancellationToken)
    {
        var status = _finishReason == "length" ? "incomplete" : "completed";
        ResponseJson = Render(json => WriteResponse(json, status, usage, error: null));
        OutputMessageJson = Render(json =>
        {
            json.WriteStartObject();
            json.WriteString("role"u8, "assistant"u8);
            json.WriteString("content"u8, _text.ToString());
            json.WriteEndObject();
        });

        if (!_request.Stream)
        {
            _body.Write(ResponseJson);
        }
        else
        {
            OpenItem();
            var text = _text.ToString();
            WriteEvent("response.output_text.done", json =>
            {
                WriteItemPosition(json);
                json.WriteString("text"u8, text);
                json.WriteStartArray("logprobs"u8);
                json.WriteEndArray();
            });
            WriteEvent("response.content_part.done", json =>
            {
                WriteItemPosition(json);
                json.WritePropertyName("part"u8);
                WriteTextPart(json, text);
            });
            WriteEvent("response.output_item.done", json =>
            {
                json.WriteNumber("output_index"u8, 0);
                json.WritePropertyName("item"u8);
                WriteMessageItem(json, "completed", text);
            });
            var response = ResponseJson;
            WriteEvent(status == "completed" ? "response.completed" : "response.incomplete", json =>
            {
                json.WritePropertyName("response"u8);
                json.WriteRawValue(response, skipInputValidation: true);
            });
        }

        await _body.FlushAsync(cancellationToken);
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

    private void OpenItem()
    {
        if (_itemOpen)
        {
            return;
        }

        _itemOpen = true;
        WriteEvent("response.output_item.added", json =>
        {
            json.WriteNumber("output_index"u8, 0);
            json.WritePropertyName("item"u8);
            WriteMessageItem(json, "in_progress", text: null);
        });
        WriteEvent("response.content_part.added", json =>
        {
            WriteItemPosition(json);
            json.WritePropertyName("part"u8);
            WriteTextPart(json, "");
        });
    }

    private void WriteItemPosition(Utf8JsonWriter json)
    {
        json.WriteString("item_id"u8, _messageId);
        json.WriteNumber("output_index"u8, 0);
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

        WriteStringOrNull(json, "instructions"u8, request.Instructions);
        WriteNumberOrNull(json, "max_output_tokens"u8, request.MaxOutputTokens);
        json.WriteString("model"u8, _model);
        json.WriteStartArray("output"u8);
        if (status is "completed" or "incomplete")
        {
            WriteMessageItem(json, "completed", _text.ToString());
        }

        json.WriteEndArray();
        json.WriteBoolean("parallel_tool_calls"u8, request.ParallelToolCalls);
        WriteStringOrNull(json, "previous_response_id"u8, request.PreviousResponseId);
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

        WriteStringOrNull(json, "user"u8, request.User);
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

    private void WriteMessageItem(Utf8JsonWriter json, string status, string? text)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, _messageId);
        json.WriteString("type"u8, "message"u8);
        json.WriteString("status"u8, status);
        json.WriteString("role"u8, "assistant"u8);
        json.WriteStartArray("content"u8);
        if (text is not null)
        {
            WriteTextPart(json, text);
        }

        json.WriteEndArray();
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

    private static void WriteStringOrNull(Utf8JsonWriter json, ReadOnlySpan<byte> name, string? value)
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
}
