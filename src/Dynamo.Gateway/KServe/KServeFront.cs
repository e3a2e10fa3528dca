using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.Forwarding;
using Dynamo.Gateway.KServe.Protocol;
using Dynamo.Gateway.Pipeline;
using Dynamo.Llm.Protocol;
using Microsoft.AspNetCore.Http;

namespace Dynamo.Gateway.KServe;

/// <summary>
/// One KServe inference request on the request path: already parsed (<see cref="KServeRequest"/>), its output sent as
/// <see cref="ModelInferResponse"/>s through <paramref name="send"/> (streamed: one per flush of new text, the last
/// with <c>finish_reason</c> and the parameter <c>triton_final_response</c>; otherwise one at the end), its error kept
/// in <see cref="Error"/> for the service to answer as a gRPC status or an in-stream error message.
/// </summary>
internal sealed class KServeFront(ModelInferRequest source, ParsedRequest request, bool streaming, HashSet<string>? wanted, Func<ModelInferResponse, Task> send)
    : RequestFront
{
    private bool Streaming { get; } = streaming;

    /// <summary>Why the request failed, if it did.</summary>
    public OpenAiException? Error { get; private set; }

    public override string Endpoint => "kserve";

    public override bool ReadsBody => false;

    public override ParsedRequest Parse(ReadOnlySpan<byte> body, RequestLimits limits) => request;

    public override IClientWriter CreateWriter(HttpContext context, ParsedRequest parsed, Llm.ModelCard card, int choices, string requestId, long created) =>
        new Writer(this);

    public override Task WriteErrorAsync(HttpContext context, OpenAiException error)
    {
        Error ??= error;
        return Task.CompletedTask;
    }

    public override Task RelayWorkerErrorAsync(HttpContext context, int status, string? contentType, ReadOnlyMemory<byte> body)
    {
        // The worker's refusal is an OpenAI error body: its message and field become the gRPC error.
        string message = $"The worker refused the request (HTTP {status}).";
        string? param = null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("error", out var error))
            {
                message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : message;
                param = error.TryGetProperty("param", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
            }
        }
        catch (JsonException)
        {
        }

        Error ??= new OpenAiException(status, message, "invalid_request_error", param);
        return Task.CompletedTask;
    }

    private Task SendAsync(ModelInferResponse response) => send(response);

    private ModelInferResponse Response(string text, string? finishReason, Usage? usage)
    {
        var response = new ModelInferResponse { ModelName = source.ModelName, ModelVersion = "1", Id = source.Id };
        Add(response, "text_output", text);
        if (finishReason is not null)
        {
            Add(response, "finish_reason", finishReason);
            if (Streaming)
            {
                response.Parameters["triton_final_response"] = new InferParameter { BoolParam = true };
            }
        }

        if (usage is not null)
        {
            response.Parameters["prompt_tokens"] = new InferParameter { Int64Param = usage.PromptTokens };
            response.Parameters["completion_tokens"] = new InferParameter { Int64Param = usage.CompletionTokens };
            response.Parameters["cached_tokens"] = new InferParameter { Int64Param = usage.PromptTokensDetails.CachedTokens };
        }

        return response;
    }

    private void Add(ModelInferResponse response, string name, string value)
    {
        if (wanted is not null && !wanted.Contains(name))
        {
            return;
        }

        var output = new ModelInferResponse.Types.InferOutputTensor { Name = name, Datatype = "BYTES" };
        output.Shape.Add(1);
        response.Outputs.Add(output);
        response.RawOutputContents.Add(KServeRequest.RawBytes(value));
    }

    private sealed class Writer(KServeFront front) : IClientWriter
    {
        private readonly StringBuilder _text = new();
        private readonly StringBuilder _pending = new();
        private string? _finishReason;

        public bool HasStarted { get; private set; }

        public bool DecodesText => true;

        public void Dispose()
        {
        }

        public ValueTask StartAsync(CancellationToken cancellationToken)
        {
            HasStarted = true;
            return ValueTask.CompletedTask;
        }

        public void OnChoice(WorkerChunk chunk)
        {
            _finishReason ??= chunk.FinishReason;
            if (!string.IsNullOrEmpty(chunk.Text))
            {
                (front.Streaming ? _pending : _text).Append(chunk.Text);
            }
        }

        public async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken)
        {
            // The final piece waits for CompleteAsync, so that the last response also carries the finish reason.
            if (front.Streaming && _pending.Length > 0 && _finishReason is null)
            {
                var delta = _pending.ToString();
                _pending.Clear();
                await front.SendAsync(front.Response(delta, null, null));
            }

            return default;
        }

        public async ValueTask CompleteAsync(Usage usage, CancellationToken cancellationToken)
        {
            var text = front.Streaming ? _pending.ToString() : _text.ToString();
            await front.SendAsync(front.Response(text, _finishReason ?? "stop", usage));
        }

        public ValueTask<bool> TryFailAsync(OpenAiException error, CancellationToken cancellationToken) => ValueTask.FromResult(false);
    }
}
