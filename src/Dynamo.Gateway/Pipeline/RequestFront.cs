using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.Errors;
using Dynamo.Gateway.Forwarding;
using Dynamo.Gateway.Responses;
using Dynamo.Llm;
using Dynamo.Llm.Protocol;
using Microsoft.AspNetCore.Http;

namespace Dynamo.Gateway.Pipeline;

/// <summary>
/// The API a request came in through, around the one request path (<see cref="CompletionPipeline"/>): how its
/// request is read, how its output and its errors are written. Chat and completions (<see cref="OpenAiFront"/>),
/// the Responses API (<see cref="ResponsesFront"/>) and KServe's gRPC inference protocol share admission, routing,
/// disaggregation, migration, limits and metrics.
/// </summary>
internal abstract class RequestFront
{
    /// <summary>The <c>endpoint</c> label of <c>dynamo_frontend_requests_total</c>.</summary>
    public abstract string Endpoint { get; }

    /// <summary>Whether the request is read from the HTTP body (false: the front has it already).</summary>
    public virtual bool ReadsBody => true;

    /// <summary>The request, from the body when <see cref="ReadsBody"/>.</summary>
    /// <exception cref="OpenAiException">The request is not valid.</exception>
    public abstract ParsedRequest Parse(ReadOnlySpan<byte> body, RequestLimits limits);

    /// <summary>What renders the worker's stream for this API.</summary>
    public abstract IClientWriter CreateWriter(HttpContext context, ParsedRequest request, ModelCard card, int choices, string requestId, long created);

    /// <summary>Answers with <paramref name="error"/> (before or during the output).</summary>
    public virtual Task WriteErrorAsync(HttpContext context, OpenAiException error) => ErrorWriter.WriteAsync(context, error);

    /// <summary>Passes on a worker's own refusal of the request (a 4xx before any output): as it came, by default.</summary>
    public virtual async Task RelayWorkerErrorAsync(HttpContext context, int status, string? contentType, ReadOnlyMemory<byte> body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType ?? "application/json";
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    /// <summary>Called once the request was served and its output written.</summary>
    public virtual void OnCompleted(IClientWriter writer, string requestId)
    {
    }
}

/// <summary><c>/v1/chat/completions</c> and <c>/v1/completions</c>.</summary>
internal sealed class OpenAiFront : RequestFront
{
    public static readonly OpenAiFront Chat = new(RequestKind.Chat);
    public static readonly OpenAiFront Completion = new(RequestKind.Completion);

    private readonly RequestKind _kind;

    private OpenAiFront(RequestKind kind) => _kind = kind;

    public override string Endpoint => _kind == RequestKind.Chat ? "chat_completions" : "completions";

    public override ParsedRequest Parse(ReadOnlySpan<byte> body, RequestLimits limits) => OpenAiRequestParser.Parse(_kind, body, limits);

    public override IClientWriter CreateWriter(HttpContext context, ParsedRequest request, ModelCard card, int choices, string requestId, long created) =>
        new ClientResponseWriter(context.Response, request, choices, (_kind == RequestKind.Chat ? "chatcmpl-" : "cmpl-") + requestId, created, card.ToolCallFormat,
            request.Logprobs is not null || request.Echo ? card.Tokenizer : null);
}

/// <summary>
/// <c>POST /v1/responses</c>: the body becomes the equivalent chat request (<see cref="ResponsesRequestTranslator"/>),
/// rendered as a response object or the Responses event stream, and kept in the <see cref="ResponseStore"/> for
/// <c>previous_response_id</c> unless <c>store</c> is false. One instance per request.
/// </summary>
internal sealed class ResponsesFront(ResponseStore store) : RequestFront
{
    private ResponsesRequest? _request;

    public override string Endpoint => "responses";

    public override ParsedRequest Parse(ReadOnlySpan<byte> body, RequestLimits limits)
    {
        _request = ResponsesRequestTranslator.Translate(body, limits, store.Conversation);
        return OpenAiRequestParser.Parse(RequestKind.Chat, _request.ChatBody, limits);
    }

    public override IClientWriter CreateWriter(HttpContext context, ParsedRequest request, ModelCard card, int choices, string requestId, long created) =>
        new ResponsesWriter(context.Response, _request!, request, "resp_" + requestId, created, card.ToolCallFormat);

    public override Task WriteErrorAsync(HttpContext context, OpenAiException error) =>
        ErrorWriter.WriteAsync(context, ResponsesRequestTranslator.MapError(error));

    public override void OnCompleted(IClientWriter writer, string requestId)
    {
        if (_request is not { Store: true } request || writer is not ResponsesWriter responses)
        {
            return;
        }

        var conversation = new System.Buffers.ArrayBufferWriter<byte>(
            (request.History?.Length ?? 0) + request.InputMessages.Length + responses.OutputMessageJson!.Length + 8);
        using (var json = new System.Text.Json.Utf8JsonWriter(conversation))
        {
            json.WriteStartArray();
            foreach (var part in (ReadOnlySpan<byte[]?>)[request.History, request.InputMessages])
            {
                if (part is not null)
                {
                    using var doc = System.Text.Json.JsonDocument.Parse(part);
                    foreach (var message in doc.RootElement.EnumerateArray())
                    {
                        message.WriteTo(json);
                    }
                }
            }

            json.WriteRawValue(responses.OutputMessageJson, skipInputValidation: true);
            json.WriteEndArray();
        }

        store.Add("resp_" + requestId, responses.ResponseJson!, conversation.WrittenSpan.ToArray());
    }
}
