using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Text.Json;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.OpenAi;
using Dynamo.Contracts.Routing;
using Dynamo.Gateway.Disaggregation;
using Dynamo.Gateway.Errors;
using Dynamo.Gateway.Forwarding;
using Dynamo.Gateway.Limits;
using Dynamo.Gateway.Models;
using Dynamo.Gateway.Observability;
using Dynamo.Gateway.Responses;
using Dynamo.Llm;
using Dynamo.Llm.Protocol;
using Dynamo.Llm.ToolCalling;
using Dynamo.Runtime.Http;
using Dynamo.Runtime.Observability;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Dynamo.Gateway.Pipeline;

/// <summary>
/// The request path of <c>/v1/chat/completions</c> and <c>/v1/completions</c>: read and validate, bound the prompt
/// text and the sequences, template and tokenize (stopped if the client leaves), admit one slot per sequence, route,
/// forward token ids to the worker through YARP, relay its stream back.
/// </summary>
internal sealed partial class CompletionPipeline
{
    /// <summary>The model label of requests whose body could not be read or names no configured model.</summary>
    internal const string UnknownModel = "unknown";

    private readonly GatewayOptions _options;
    private readonly ModelCatalog _models;
    private readonly WorkerDirectory _workers;
    private readonly WorkerHealth _health;
    private readonly IWorkerRouter _router;
    private readonly PrefillCoordinator _prefill;
    private readonly AdmissionController _admission;
    private readonly ResponseStore _responseStore;
    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _http;
    private readonly GatewayMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RequestLimits _limits;
    private readonly ForwarderRequestConfig _forwardConfig;
    private static readonly TimeSpan RecheckBusy = TimeSpan.FromSeconds(1);
    private readonly string _maxPromptCharsKey = GatewayOptions.SectionName + ":" + nameof(GatewayOptions.MaxPromptChars);
    private readonly string _maxSequencesKey = GatewayOptions.SectionName + ":" + nameof(GatewayOptions.MaxSequencesPerRequest);

    public CompletionPipeline(
        GatewayOptions options,
        ModelCatalog models,
        WorkerDirectory workers,
        WorkerHealth health,
        IWorkerRouter router,
        PrefillCoordinator prefill,
        AdmissionController admission,
        ResponseStore responseStore,
        IHttpForwarder forwarder,
        HttpMessageInvoker http,
        GatewayMetrics metrics,
        TimeProvider time,
        ILogger<CompletionPipeline> logger)
    {
        _options = options;
        _models = models;
        _workers = workers;
        _health = health;
        _router = router;
        _prefill = prefill;
        _admission = admission;
        _responseStore = responseStore;
        _forwarder = forwarder;
        _http = http;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _limits = new RequestLimits { MaxN = options.MaxN, MaxTokensCap = options.MaxTokensCap };
        metrics.Registry.AddBeforeCollectCallback(() =>
        {
            metrics.AdmittedSequences.Set(admission.AdmittedSequences);
            metrics.ResponsesStored.Set(responseStore.Count);
            metrics.ResponsesEvicted.IncTo(responseStore.Evicted);
            if (router.Availability is { } availability)
            {
                metrics.RouterBusyWorkers.WithLabels("kv_usage").Set(availability.BusyCount(BusyReason.KvUsage));
                metrics.RouterBusyWorkers.WithLabels("waiting_requests").Set(availability.BusyCount(BusyReason.WaitingRequests));
            }
        });
        _forwardConfig = new ForwarderRequestConfig
        {
            ActivityTimeout = options.WorkerStreamTimeout,
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
    }

    public Task HandleAsync(HttpContext context, RequestKind kind) =>
        HandleAsync(context, kind == RequestKind.Chat ? OpenAiFront.Chat : OpenAiFront.Completion);

    /// <summary><c>POST /v1/responses</c> (<see cref="ResponsesFront"/>).</summary>
    public Task HandleResponsesAsync(HttpContext context) => HandleAsync(context, new ResponsesFront(_responseStore));

    /// <summary>One request through the path, whichever API (<paramref name="front"/>) it came in by.</summary>
    internal async Task HandleAsync(HttpContext context, RequestFront front)
    {
        var start = _time.GetTimestamp();
        var model = UnknownModel;
        var requestType = "unary";
        var status = "error";
        try
        {
            ParsedRequest request;
            if (front.ReadsBody)
            {
                using var body = await ReadBodyAsync(context);
                request = front.Parse(body.Span, _limits);
            }
            else
            {
                request = front.Parse([], _limits);
            }

            // Metric labels carry only configured model names: a client's made-up name would otherwise become a new
            // time series per request (memory that grows with requests); those requests are counted as "unknown".
            bool known = _models.TryGet(request.Model, out var card);
            model = known ? request.Model : UnknownModel;
            requestType = request.Stream ? "stream" : "unary";

            // Cheap bounds first, before the chat template, the tokenizer and admission spend anything on the request.
            RequestSize.CheckPromptChars(request, _options.MaxPromptChars, _maxPromptCharsKey);
            RequestSize.CheckSequences(request, _options.MaxSequencesPerRequest, _maxSequencesKey);
            if (!known)
            {
                throw ErrorWriter.NotFound($"The model '{OpenAiException.Shorten(request.Model)}' does not exist.", "model", "model_not_found");
            }

            request = CheckToolCalling(request, card);
            var prompts = Preprocess(request, card, context.RequestAborted);
            var maxTokens = CheckLengths(request, prompts, card);
            using var slot = await _admission.EnterAsync(RequestSize.Sequences(request), context.RequestAborted, request.Hints?.Priority ?? 0);
            var inflight = _metrics.ForModel(model).Inflight;
            inflight.Inc();
            try
            {
                status = await ForwardAsync(context, front, request, card, prompts, maxTokens, start) ? "success" : "error";
                if (context.RequestAborted.IsCancellationRequested)
                {
                    status = "cancelled";
                    LogClientCancelled(context.TraceIdentifier, _time.GetElapsedTime(start).TotalMilliseconds);
                }
            }
            finally
            {
                inflight.Dec();
            }
        }
        catch (OpenAiException error)
        {
            status = error.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await front.WriteErrorAsync(context, error);
        }
        catch (Exception ex) when (ex is Microsoft.AspNetCore.Connections.ConnectionResetException
                                   || (context.RequestAborted.IsCancellationRequested && ex is OperationCanceledException or IOException))
        {
            // The client left: routine, one line, no stack trace.
            status = "cancelled";
            LogClientCancelled(context.TraceIdentifier, _time.GetElapsedTime(start).TotalMilliseconds);
        }
        finally
        {
            var series = _metrics.ForModel(model);
            series.Requests(front.Endpoint, requestType, status).Inc();
            series.RequestDuration.Observe(_time.GetElapsedTime(start).TotalSeconds);
        }
    }

    private async Task<bool> ForwardAsync(HttpContext context, RequestFront front, ParsedRequest request, ModelCard card, int[][] prompts, int? maxTokens, long start)
    {
        if (_workers.Candidates(request.Model).Count == 0)
        {
            throw ErrorWriter.ServiceUnavailable($"No worker is serving '{request.Model}' right now; retry later.");
        }

        var requestId = "cmpl-" + Guid.NewGuid().ToString("N");
        using var activity = Telemetry.Gateway.StartActivity("dynamo.request");
        activity?.SetTag("dynamo.request_id", requestId);
        activity?.SetTag("gen_ai.request.model", request.Model);

        using var writer = front.CreateWriter(context, request, card, prompts.Length * request.N, requestId[5..], _time.GetUtcNow().ToUnixTimeSeconds());
        var relay = new WorkerStreamRelay(writer, _time, start);

        // A request can move when its worker fails: it continues from the tokens already streamed, so only
        // single-sequence requests migrate once output has begun (n > 1 or batched prompts interleave choices).
        var migratable = prompts.Length == 1 && request.N == 1;
        List<string>? failed = null;
        for (var attempt = 0; ; attempt++)
        {
            var candidates = HealthyCandidates(request.Model, failed);
            if (candidates.Count > 0 && _router.Availability is { } availability && availability.AllBusy(candidates))
            {
                (candidates, var waitedOut) = await HoldWhileAllBusyAsync(availability, request.Model, failed, context.RequestAborted);
                if (waitedOut)
                {
                    var busy = $"every worker serving '{request.Model}' is busy (over Dynamo:Router:BusyKvUsage or BusyWaitingRequests) and none freed within Dynamo:Gateway:BusyWait ({_options.BusyWait.TotalSeconds:0.#} s)";
                    if (writer.HasStarted)
                    {
                        return await FailAsync(context, front, writer, busy);
                    }

                    throw ErrorWriter.WorkersBusy(_options.BusyStatus, $"The request was not sent: {busy}; retry later.");
                }
            }

            if (candidates.Count == 0)
            {
                return await FailAsync(context, front, writer, "no healthy worker is left to take the request");
            }

            var generated = relay.GeneratedIds;
            var prompt = generated.Count == 0 ? prompts[0] : [.. prompts[0], .. generated];
            var remaining = maxTokens - generated.Count;
            var routeStart = Stopwatch.GetTimestamp();
            var decision = _router.Select(
                new RoutingRequest(attempt == 0 ? requestId : $"{requestId}-m{attempt}", request.Model, prompt, remaining ?? 0) { Hints = request.Hints },
                candidates);
            activity?.AddEvent(new ActivityEvent("dynamo.route", tags: new ActivityTagsCollection
            {
                ["dynamo.router.policy"] = decision.Policy,
                ["dynamo.router.worker"] = decision.Worker.InstanceId,
                ["dynamo.router.overlap_blocks"] = decision.OverlapBlocks,
            }));
            _metrics.RecordDecision(decision, Stopwatch.GetElapsedTime(routeStart));
            relay.BeginAttempt(() => _router.MarkPrefilled(decision));

            // kv_transfer_params name other workers' memory: only the gateway sets them, never a client. A migrated
            // attempt prefills locally (its prompt now includes generated tokens the prefill worker never saw).
            RemotePrefill? remotePrefill = null;
            // Echo with logprobs scores the prompt where it is decoded: a remote prefill's KV would skip the positions it needs.
            if (attempt == 0 && migratable && !request.EchoesLogprobs && _prefill.HasPrefillPool(request.Model))
            {
                remotePrefill = await _prefill.TryPrefillAsync(request, prompt, decision, activity, context.RequestAborted);
                if (remotePrefill is not null)
                {
                    // The decode worker reads the prompt's KV instead of computing it: no prefill load there.
                    _router.MarkPrefilled(decision);
                }
            }

            if (_options.WorkerHeaders && !context.Response.HasStarted)
            {
                // The worker that will produce the tokens; a migration before the first byte names the new one.
                context.Response.Headers[ResponseHeaders.Worker] = decision.Worker.InstanceId;
                if (remotePrefill is not null)
                {
                    context.Response.Headers[ResponseHeaders.PrefillWorker] = remotePrefill.Worker.InstanceId;
                }
                else
                {
                    context.Response.Headers.Remove(ResponseHeaders.PrefillWorker);
                }
            }

            var body = WorkerRequestWriter.Write(request with { KvTransferParams = remotePrefill?.Params }, generated.Count == 0 ? prompts : [prompt], remaining, generatedPromptTokens: generated.Count);
            var attemptContext = WorkerAttemptContext.Create(context, body);
            var transformer = new WorkerTransformer(relay, decision.RequestId);
            ForwarderError error;
            try
            {
                error = await _forwarder.SendAsync(attemptContext, decision.Worker.Address.ToString(), _http, _forwardConfig, transformer);
            }
            finally
            {
                _router.Complete(decision);
            }

            var completed = error == ForwarderError.None && transformer.StreamFailure is null && transformer.WorkerErrorStatus is null && relay.Completed;
            if (remotePrefill is not null && (!completed || context.RequestAborted.IsCancellationRequested))
            {
                // The decode may not have read the prompt's KV (a read releases the pins itself; then this is a no-op).
                _prefill.Release(remotePrefill, context.RequestAborted.IsCancellationRequested ? "client_gone" : "decode_failed");
            }

            if (context.RequestAborted.IsCancellationRequested)
            {
                return false;
            }

            if (completed)
            {
                var usage = new Usage
                {
                    PromptTokens = prompts.Sum(p => p.Length),
                    CompletionTokens = relay.GeneratedTokens,
                    PromptTokensDetails = new PromptTokensDetails { CachedTokens = relay.CachedTokens },
                };
                await writer.CompleteAsync(usage, context.RequestAborted);
                RecordStream(request, prompts, relay);
                front.OnCompleted(writer, requestId[5..]);

                return true;
            }

            // The worker judged the request itself bad: nothing another worker would do differently. Not so a 401: the
            // worker refused this frontend's cluster credential, which is the deployment's fault, not the client's.
            if (transformer.WorkerErrorStatus is { } status && status is >= 400 and < 500 and not 401 and not 408 and not 429)
            {
                return await RelayWorkerErrorAsync(context, front, writer, transformer);
            }

            var reason = transformer.StreamFailure?.Message
                ?? (transformer.WorkerErrorStatus is 401
                    ? "HTTP 401: it refused this frontend's cluster credential (do both hold the same Dynamo:Cluster:Secret, with clocks within 5 minutes?)"
                    : null)
                ?? (transformer.WorkerErrorStatus is { } code ? $"HTTP {code}" : null)
                ?? attemptContext.GetForwarderErrorFeature()?.Exception?.Message
                ?? error.ToString();
            LogWorkerFailed(decision.Worker.InstanceId, decision.RequestId, relay.GeneratedTokens, reason);
            _health.MarkFailed(decision.Worker);
            (failed ??= []).Add(decision.Worker.InstanceId);
            if (attempt >= _options.MigrationLimit || (writer.HasStarted && !migratable))
            {
                return await FailAsync(context, front, writer, $"worker '{decision.Worker.InstanceId}' failed: {reason}");
            }

            _metrics.Migrations.WithLabels(request.Model).Inc();
            activity?.AddEvent(new ActivityEvent("dynamo.migrate"));
        }
    }

    /// <summary>
    /// Holds a request whose candidates are all busy, unsent, until a load report or a completion frees one or
    /// <see cref="GatewayOptions.BusyWait"/> passes; returns the candidates then, and whether the wait ran out (the
    /// caller answers <see cref="GatewayOptions.BusyStatus"/>). Only the wait running out refuses: a worker that was
    /// seen free is used even if the next report marks it busy again (the router then places among the busy ones),
    /// where a second look after the wake could refuse a request held for no time at all. A client that leaves ends the
    /// wait at once (<paramref name="aborted"/>): a held request holds nothing but its admission slot, which its caller releases.
    /// </summary>
    private async Task<(IReadOnlyList<WorkerInstance> Candidates, bool WaitedOut)> HoldWhileAllBusyAsync(IWorkerAvailability availability, string model, List<string>? failed, CancellationToken aborted)
    {
        _metrics.BusyHeldTotal.Inc();
        _metrics.BusyHeld.Inc();
        var start = _time.GetTimestamp();
        try
        {
            while (true)
            {
                // Taken before the test: a change between the two wakes the wait instead of being missed.
                var changed = availability.Changed;
                var candidates = HealthyCandidates(model, failed);
                if (candidates.Count == 0 || !availability.AllBusy(candidates))
                {
                    return (candidates, false);
                }

                var left = _options.BusyWait - _time.GetElapsedTime(start);
                if (left <= TimeSpan.Zero)
                {
                    _metrics.BusyRefused.Inc();
                    LogAllBusy(model, _options.BusyWait.TotalSeconds, _options.BusyStatus);
                    return (candidates, true);
                }

                try
                {
                    // A report that goes stale frees its worker without an event: look again at least once a second.
                    await changed.WaitAsync(left < RecheckBusy ? left : RecheckBusy, _time, aborted);
                }
                catch (TimeoutException)
                {
                }
            }
        }
        finally
        {
            _metrics.BusyHeld.Dec();
        }
    }

    private IReadOnlyList<WorkerInstance> HealthyCandidates(string model, List<string>? failed)
    {
        var all = _workers.Candidates(model);
        if (failed is null && _health.UnhealthyCount == 0)
        {
            return all;
        }

        var healthy = new List<WorkerInstance>(all.Count);
        foreach (var worker in all)
        {
            if (_health.IsHealthy(worker.InstanceId) && (failed is null || !failed.Contains(worker.InstanceId)))
            {
                healthy.Add(worker);
            }
        }

        return healthy;
    }

    private static async Task<bool> FailAsync(HttpContext context, RequestFront front, IClientWriter writer, string reason)
    {
        var failure = writer.HasStarted
            ? new OpenAiException(StatusCodes.Status502BadGateway, $"The stream could not be completed: {reason}.", "server_error", null, "worker_failed")
            : ErrorWriter.ServiceUnavailable($"The request could not be served: {reason}; retry later.");
        if (!writer.HasStarted || !await writer.TryFailAsync(failure, context.RequestAborted))
        {
            await front.WriteErrorAsync(context, failure);
        }

        return false;
    }

    private static async Task<bool> RelayWorkerErrorAsync(HttpContext context, RequestFront front, IClientWriter writer, WorkerTransformer transformer)
    {
        if (writer.HasStarted)
        {
            return await FailAsync(context, front, writer, $"the worker answered HTTP {transformer.WorkerErrorStatus}");
        }

        await front.RelayWorkerErrorAsync(context, transformer.WorkerErrorStatus!.Value, transformer.WorkerErrorContentType, transformer.WorkerErrorBody ?? []);
        return false;
    }

    private void RecordStream(ParsedRequest request, int[][] prompts, WorkerStreamRelay relay)
    {
        var series = _metrics.ForModel(request.Model);
        if (relay.TimeToFirstToken is { } ttft)
        {
            series.TimeToFirstToken.Observe(ttft.TotalSeconds);
        }

        if (relay.InterTokenSeconds.Count > 0)
        {
            var itl = series.InterTokenLatency;
            foreach (var seconds in relay.InterTokenSeconds)
            {
                itl.Observe(seconds);
            }
        }

        var promptTokens = 0;
        foreach (var prompt in prompts)
        {
            promptTokens += prompt.Length;
        }

        series.InputTokens.Observe(promptTokens);
        series.OutputTokens.Observe(relay.GeneratedTokens);
        series.CachedTokens.Inc(relay.CachedTokens);
    }

    /// <summary>
    /// Chat template and tokenizer for text; token-id prompts pass through after a vocabulary check. Tokenizing stops
    /// when <paramref name="aborted"/> fires (the client left), counted in <c>dynamo_frontend_tokenizations_cancelled_total</c>.
    /// </summary>
    private int[][] Preprocess(ParsedRequest request, ModelCard card, CancellationToken aborted)
    {
        _metrics.Tokenizing.Inc();
        try
        {
            return Tokenize(request, card, aborted);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            _metrics.TokenizationsCancelled.Inc();
            throw;
        }
        finally
        {
            _metrics.Tokenizing.Dec();
        }
    }

    private static int[][] Tokenize(ParsedRequest request, ModelCard card, CancellationToken aborted)
    {
        if (request.Kind == RequestKind.Chat)
        {
            string text;
            try
            {
                // tool_choice "none": the model is not shown the tools (as vLLM renders it).
                text = card.ChatTemplateFor(request.UsesTools).Render(request.Messages, request.UsesTools ? request.Tools : null);
            }
            catch (Exception ex) when (ex is not OpenAiException and not OutOfMemoryException)
            {
                throw OpenAiException.BadRequest($"The chat template rejected the messages: {ex.Message}", "messages");
            }

            return [card.Encoder.Encode(text, aborted)];
        }

        var prompts = new int[request.Prompts.Count][];
        for (var i = 0; i < prompts.Length; i++)
        {
            var prompt = request.Prompts[i];
            if (prompt.TokenIds is { } ids)
            {
                foreach (var id in ids)
                {
                    if ((uint)id >= (uint)card.VocabSize)
                    {
                        throw OpenAiException.BadRequest($"Token id {id} is outside the model's vocabulary (0..{card.VocabSize - 1}).", "prompt");
                    }
                }

                prompts[i] = ids;
            }
            else
            {
                prompts[i] = card.Encoder.Encode(prompt.Text ?? "", aborted);
            }

            if (prompts[i].Length == 0)
            {
                throw OpenAiException.BadRequest("The prompt is empty.", "prompt");
            }
        }

        return prompts;
    }

    /// <summary>
    /// A request offering tools needs a model whose calls a parser can read. One that forces a call (<c>required</c>, a
    /// named function) gets it by constrained decoding: the call's format (<see cref="ToolCallConstraints"/>: its literal
    /// wrapper around a JSON value that names a tool and holds arguments of its schema) becomes the request's
    /// <c>response_format</c>, so the worker's engine can only write such a call, which the gateway then reads back.
    /// </summary>
    private static ParsedRequest CheckToolCalling(ParsedRequest request, ModelCard card)
    {
        if (request.PromptLogprobs is not null)
        {
            // The worker contract's field (the gateway sends it for echo with logprobs), which the parser refuses unless
            // its limits accept it (workers' do): a gateway configured to accept it must not ignore it.
            throw OpenAiException.BadRequest(
                "'prompt_logprobs' (vLLM's extension) is not served by this frontend; send 'echo': true with 'logprobs', which puts the prompt tokens' log-probabilities first in each choice's 'logprobs'.",
                "prompt_logprobs", "unsupported_parameter");
        }

        if (!request.UsesTools)
        {
            return request;
        }

        if (request.Logprobs is not null)
        {
            // The answer is read for tool calls: log-probabilities per token would not line up with what the client gets.
            throw OpenAiException.BadRequest(
                "'logprobs' cannot be combined with 'tools' on this server yet; send one of them (or tool_choice 'none').",
                "logprobs", "unsupported_parameter");
        }

        if (card.ToolCallFormat is not { } format)
        {
            throw OpenAiException.BadRequest(
                $"The model '{card.Name}' does not call tools: its chat template does not show them to it (Dynamo:Serve:ToolCallParser names the format of a model that does); send the request without 'tools' or with tool_choice 'none'.",
                "tools", "unsupported_parameter");
        }

        if (ToolCallConstraints.For(request, format) is not { } forced)
        {
            return request;
        }

        if (request.ResponseFormat is not null)
        {
            throw OpenAiException.BadRequest(
                "'response_format' cannot be combined with a tool_choice that forces a call: the call's format decides the output; send one of them.", "response_format");
        }

        var spec = new System.Text.Json.Nodes.JsonObject
        {
            ["type"] = "json_schema",
            ["json_schema"] = new System.Text.Json.Nodes.JsonObject
            {
                ["name"] = "tool_call",
                ["schema"] = System.Text.Json.Nodes.JsonNode.Parse(forced.Schema.GetRawText()),
            },
            ["prefix"] = forced.Prefix,
            ["suffix"] = forced.Suffix,
        };
        using var document = JsonDocument.Parse(spec.ToJsonString());
        ResponseFormat? constraint;
        try
        {
            constraint = OpenAiRequestParser.ReadResponseFormat(document.RootElement.Clone());
        }
        catch (OpenAiException error)
        {
            // A tool's parameters use a schema keyword constrained decoding does not support: the call cannot be forced.
            throw new OpenAiException(error.StatusCode, $"tool_choice forces a call, but a tool's parameters cannot be enforced: {error.Message}", error.Type, "tools", error.Code);
        }

        return request with { ResponseFormat = constraint };
    }

    /// <summary>Rejects prompts that cannot fit; returns the max_tokens to send (null: the worker fills the context).</summary>
    private int? CheckLengths(ParsedRequest request, int[][] prompts, ModelCard card)
    {
        var context = card.MaxContextLength;
        var promptLimit = Math.Min(_options.MaxPromptTokens ?? context - 1, context - 1);
        foreach (var prompt in prompts)
        {
            if (prompt.Length > promptLimit)
            {
                throw OpenAiException.BadRequest(
                    $"This model's maximum context length is {context} tokens; the prompt has {prompt.Length} tokens (limit {promptLimit}).",
                    request.Kind == RequestKind.Chat ? "messages" : "prompt", "context_length_exceeded");
            }

            if (request.MaxTokens is { } max && prompt.Length + max > context)
            {
                throw OpenAiException.BadRequest(
                    $"This model's maximum context length is {context} tokens; the prompt ({prompt.Length}) plus max_tokens ({max}) is {prompt.Length + max}.",
                    "max_tokens", "context_length_exceeded");
            }
        }

        if (request.Hints?.ExpectedOutputTokens is { } expected && prompts.Max(p => p.Length) + expected > context)
        {
            throw OpenAiException.BadRequest(
                $"Invalid value for 'nvext.expected_output_tokens': this model's maximum context length is {context} tokens and the prompt has {prompts.Max(p => p.Length)}, which leaves room for at most {context - prompts.Max(p => p.Length)} output tokens, not {expected}.",
                "nvext.expected_output_tokens");
        }

        return request.MaxTokens;
    }

    private async Task<PooledBody> ReadBodyAsync(HttpContext context)
    {
        var limit = _options.MaxRequestBodyBytes;
        var declared = context.Request.ContentLength;
        if (declared > limit)
        {
            throw TooLarge(limit);
        }

        var reader = context.Request.BodyReader;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await reader.ReadAsync(context.RequestAborted);
            }
            catch (Exception ex) when (OpenAiErrors.BodyReadFailure(ex, context) is { } failure)
            {
                // A malformed chunked body (Kestrel reports an overflowing chunk size as a plain IOException) is the
                // client's fault: 400, not 500.
                throw failure;
            }

            if (result.Buffer.Length > limit)
            {
                reader.AdvanceTo(result.Buffer.Start);
                throw TooLarge(limit);
            }

            if (result.IsCompleted)
            {
                var body = PooledBody.Copy(result.Buffer);
                reader.AdvanceTo(result.Buffer.End);
                return body;
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private static OpenAiException TooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than the limit of {limit} bytes.", "invalid_request_error", null, "request_too_large");

    [LoggerMessage(Level = LogLevel.Debug, Message = "Every worker serving {Model} stayed busy for {WaitSeconds:0.#} s: a held request is answered {Status}")]
    private partial void LogAllBusy(string model, double waitSeconds, int status);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Request {TraceId} cancelled by the client after {ElapsedMs:F0} ms")]
    private partial void LogClientCancelled(string traceId, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker {Worker} failed request {RequestId} after {Tokens} tokens: {Reason}")]
    private partial void LogWorkerFailed(string worker, string requestId, int tokens, string reason);

    private readonly struct PooledBody(byte[] array, int length) : IDisposable
    {
        public ReadOnlySpan<byte> Span => array.AsSpan(0, length);

        public static PooledBody Copy(ReadOnlySequence<byte> source)
        {
            var array = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, source.Length));
            source.CopyTo(array);
            return new PooledBody(array, (int)source.Length);
        }

        public void Dispose() => ArrayPool<byte>.Shared.Return(array);
    }
}
