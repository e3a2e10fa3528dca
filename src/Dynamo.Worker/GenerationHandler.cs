using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm;
using Dynamo.Llm.Protocol;
using Dynamo.Llm.Structured;
using Dynamo.Llm.Templates;
using Dynamo.Llm.Tokenization;
using Dynamo.Runtime.Http;
using Dynamo.Runtime.Observability;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Dynamo.Worker;

/// <summary>
/// <c>POST /v1/completions</c> and <c>POST /v1/chat/completions</c>: parse, tokenize when the prompt is text, split
/// into one engine sequence per prompt × n, and stream the tokens back as SSE (or gather them into one response).
/// </summary>
/// <remarks>
/// This is the proxy benchmark's hot path (token-id prompt, <c>max_tokens</c> 1, zero-delay engine): JSON goes
/// straight into the response pipe, a single-sequence request runs without tasks, locks or channels, and nothing
/// is logged per request unless <see cref="WorkerOptions.LogRequests"/> is set.
/// </remarks>
internal sealed class GenerationHandler
{
    private const int MaxRequestIdLength = 128;
    private const string MaxPromptCharsKey = WorkerOptions.SectionName + ":" + nameof(WorkerOptions.RequestLimits) + ":" + nameof(RequestLimits.MaxPromptChars);

    private static readonly JsonWriterOptions s_jsonOptions = new()
    {
        // The output is JSON inside SSE, never HTML: no need to escape '<' or non-ASCII text.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    private readonly IEngine _engine;
    private readonly ModelCard _card;
    private readonly DrainGate _gate;
    private readonly WorkerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly RequestLimits _limits;
    private readonly string _model;
    private readonly JsonEncodedText _modelJson;
    private readonly int _maxContext;
    private readonly IReadOnlyList<int> _eosTokenIds;
    private readonly bool _logRequests;
    private readonly TimeProvider _time;
    private readonly string _idPrefix = Guid.NewGuid().ToString("N")[..8] + "-";
    private long _requestCounter;

    public GenerationHandler(
        IEngine engine, ModelCard card, string servedModel, int maxContextLength, RequestLimits limits, DrainGate gate,
        WorkerMetrics metrics, bool logRequests, TimeProvider time, ILogger logger)
    {
        _engine = engine;
        _card = card;
        _model = servedModel;
        _modelJson = JsonEncodedText.Encode(servedModel, JavaScriptEncoder.UnsafeRelaxedJsonEscaping);
        _maxContext = maxContextLength;
        _eosTokenIds = engine.Info.EosTokenIds.Count > 0 ? engine.Info.EosTokenIds : card.EosTokenIds;
        // The gateway sends a chat request's top_logprobs (up to 20) through the completions contract, and
        // prompt_logprobs for echo with logprobs.
        _limits = limits with { MaxCompletionLogprobs = RequestLimits.MaxTopLogprobs, AcceptPromptLogprobs = true };
        _gate = gate;
        _metrics = metrics;
        _logRequests = logRequests;
        _time = time;
        _logger = logger;
    }

    public Task CompletionsAsync(HttpContext context) => HandleAsync(context, RequestKind.Completion);

    public Task ChatAsync(HttpContext context) => HandleAsync(context, RequestKind.Chat);

    private async Task HandleAsync(HttpContext context, RequestKind kind)
    {
        var endpoint = kind == RequestKind.Completion ? "completions" : "chat_completions";
        if (!_gate.TryEnter())
        {
            await HttpErrors.WriteAsync(context, HttpErrors.Draining()).ConfigureAwait(false);
            _metrics.RequestDone(endpoint, 503);
            return;
        }

        var requestId = RequestIdFor(context);
        var status = 200;
        using var activity = StartActivity(context, kind, requestId);
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _gate.InflightCancelled);
        try
        {
            await GenerateAsync(context, kind, requestId, activity, cancellation).ConfigureAwait(false);
        }
        catch (OpenAiException ex)
        {
            status = ex.StatusCode;
            if (_logRequests)
            {
                WorkerLog.RequestRejected(_logger, requestId, ex.StatusCode, ex.Message);
            }

            await WriteErrorOrAbortAsync(context, ex).ConfigureAwait(false);
        }
        catch (Exception ex) when (context.RequestAborted.IsCancellationRequested || ex is Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            // The client went away (cancelled, reset mid-body, ...): its sequences are already cancelled.
            status = 499;
        }
        catch (OperationCanceledException) when (_gate.InflightCancelled.IsCancellationRequested)
        {
            // Drain timed out. A cut stream (no [DONE]) tells the gateway to migrate the request.
            status = 503;
            await WriteErrorOrAbortAsync(context, HttpErrors.Draining()).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            status = 500;
            WorkerLog.RequestFailed(_logger, ex, requestId);
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            await WriteErrorOrAbortAsync(context, new OpenAiException(500, "The engine failed while generating.", "internal_server_error")).ConfigureAwait(false);
        }
        finally
        {
            _gate.Exit();
            _metrics.RequestDone(endpoint, status);
        }
    }

    private static async Task WriteErrorOrAbortAsync(HttpContext context, OpenAiException error)
    {
        if (context.Response.HasStarted)
        {
            context.Abort();
        }
        else
        {
            await HttpErrors.WriteAsync(context, error).ConfigureAwait(false);
        }
    }

    private async Task GenerateAsync(HttpContext context, RequestKind kind, string requestId, Activity? activity, CancellationTokenSource cancellation)
    {
        var request = await ParseAsync(context.Request, kind, cancellation.Token).ConfigureAwait(false);
        if (!string.Equals(request.Model, _model, StringComparison.Ordinal))
        {
            throw new OpenAiException(404, $"The model '{OpenAiException.Shorten(request.Model)}' does not exist; this worker serves '{_model}'.", "invalid_request_error", "model", "model_not_found");
        }

        // Text prompts (direct clients; the gateway sends token ids) are bounded before the template and tokenizer run.
        RequestSize.CheckPromptChars(request, _limits.MaxPromptChars, MaxPromptCharsKey);
        var prompts = PromptTokens(request, cancellation.Token);
        var sequences = BuildSequences(request, prompts, requestId);
        try
        {
            await GenerateAsync(context, kind, requestId, activity, cancellation, request, prompts, sequences).ConfigureAwait(false);
        }
        catch when (sequences[0].KvTransfer is not null && _engine is IKvTransferPins pins)
        {
            // The prefill pinned the prompt's blocks, but its caller never got (or may not have got) where they are:
            // nobody will read them, so they go now rather than at the pin timeout.
            pins.ReleasePins(sequences[0].Request.RequestId);
            throw;
        }
    }

    private async Task GenerateAsync(HttpContext context, RequestKind kind, string requestId, Activity? activity, CancellationTokenSource cancellation,
        ParsedRequest request, int[][] prompts, Sequence[] sequences)
    {
        var header = new ResponseHeader(
            (kind == RequestKind.Chat ? "chatcmpl-" : "cmpl-") + requestId, _time.GetUtcNow().ToUnixTimeSeconds(), _modelJson, KvTransferParams: null);
        var run = new Run(kind, request, header, sequences, cancellation, context.Response.BodyWriter)
        {
            Logprobs = request.Logprobs is null && request.PromptLogprobs is null ? null : new LogprobsJson(_card.Tokenizer, request.ReturnTokensAsTokenIds),
        };
        context.Response.Headers["x-request-id"] = requestId;

        if (request.Stream)
        {
            await StreamAsync(context.Response, run).ConfigureAwait(false);
        }
        else
        {
            await RunSequencesAsync(run).ConfigureAwait(false);
            if (sequences[0].KvTransfer is { } handoff)
            {
                header = header with { KvTransferParams = KvTransferParams.Write(handoff) };
            }
            else if (sequences[0].KvTransferDeclined)
            {
                header = header with { KvTransferParams = KvTransferParams.Declined };
            }

            var usage = Usage(prompts, sequences);
            var response = context.Response;
            response.StatusCode = 200;
            response.ContentType = "application/json";
            using var json = new Utf8JsonWriter(response.BodyWriter, s_jsonOptions);
            if (kind == RequestKind.Chat)
            {
                OpenAiWriter.ChatResponse(json, header, sequences, usage, run.Logprobs);
            }
            else
            {
                OpenAiWriter.CompletionResponse(json, header, sequences, usage, run.Logprobs);
            }

            json.Flush();
            await response.BodyWriter.FlushAsync(cancellation.Token).ConfigureAwait(false);
        }

        Completed(requestId, prompts, sequences, activity);
    }

    private async Task StreamAsync(HttpResponse response, Run run)
    {
        response.StatusCode = 200;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        // Not disposed: writing into the pipe it holds nothing, and disposing would flush into a pipe that may be gone.
        var json = run.Json = new Utf8JsonWriter(run.Output, s_jsonOptions);
        await RunSequencesAsync(run).ConfigureAwait(false);
        if (run.Request.IncludeUsage)
        {
            run.Output.Write("data: "u8);
            OpenAiWriter.UsageChunk(json, run.Header, run.Kind == RequestKind.Chat ? OpenAiWriter.ChatCompletionChunk : OpenAiWriter.TextCompletion, Usage(run));
            json.Flush();
            run.Output.Write("\n\n"u8);
        }

        run.Output.Write("data: [DONE]\n\n"u8);
        await run.Output.FlushAsync(run.Token).ConfigureAwait(false);
    }

    private async Task RunSequencesAsync(Run run)
    {
        var sequences = run.Sequences;
        if (sequences.Length == 1)
        {
            await RunSequenceAsync(run, sequences[0]).ConfigureAwait(false);
            return;
        }

        run.WriteLock = new SemaphoreSlim(1, 1);
        var tasks = new Task[sequences.Length];
        for (var i = 0; i < sequences.Length; i++)
        {
            tasks[i] = RunOneOfManyAsync(run, sequences[i]);
        }

        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch when (run.Failure is { } failure)
        {
            // Report the choice that failed, not the siblings cancelled because of it.
            ExceptionDispatchInfo.Throw(failure);
        }
        finally
        {
            run.WriteLock.Dispose();
        }
    }

    private async Task RunOneOfManyAsync(Run run, Sequence sequence)
    {
        try
        {
            await RunSequenceAsync(run, sequence).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Interlocked.CompareExchange(ref run.Failure, ex, null);
            await run.Cancellation.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task RunSequenceAsync(Run run, Sequence sequence)
    {
        var request = sequence.Request;
        var detokenizer = new IncrementalDetokenizer(_card.Tokenizer, request.PromptTokens, skipSpecialTokens: true);
        var stops = run.Request.Stop.Count > 0 ? new StopStringMatcher(run.Request.Stop) : null;

        // Only a stop string ends a sequence from this side; it needs its own switch for the engine request.
        using var own = stops is null ? null : CancellationTokenSource.CreateLinkedTokenSource(run.Token);
        var token = own?.Token ?? run.Token;
        if (!run.Streaming)
        {
            sequence.Text = new StringBuilder();
            sequence.TokenIds = new List<int>(Math.Min(request.MaxTokens, 1024));
            sequence.Logprobs = request.Logprobs is null ? null : new List<LoggedToken>(Math.Min(request.MaxTokens, 1024));
        }

        try
        {
            await foreach (var output in _engine.GenerateAsync(request, token).ConfigureAwait(false))
            {
                sequence.CompletionTokens++;
                sequence.CachedTokens = output.CachedTokens;
                if (output.KvTransfer is { } handoff)
                {
                    // A prefill for a remote decode: the blocks' whereabouts go in the response (and the last chunk).
                    sequence.KvTransfer = handoff;
                    run.Header = run.Header with { KvTransferParams = KvTransferParams.Write(handoff) };
                }
                else if (output.KvTransferDeclined)
                {
                    sequence.KvTransferDeclined = true;
                    run.Header = run.Header with { KvTransferParams = KvTransferParams.Declined };
                }

                var last = output.Finish is not null;
                var text = last && IsStopToken(output.TokenId, request) ? "" : detokenizer.Push(output.TokenId);
                if (last)
                {
                    text = Join(text, detokenizer.Flush());
                }

                string? finish = null;
                if (stops is not null)
                {
                    var match = stops.Push(text);
                    text = match.Emit;
                    if (match.Stopped)
                    {
                        finish = "stop";
                    }
                    else if (last)
                    {
                        text = Join(text, stops.Flush());
                    }
                }

                finish ??= output.Finish switch
                {
                    null => null,
                    FinishReason.Length => "length",
                    FinishReason.Stop => "stop",
                    _ => throw new OperationCanceledException("The engine cancelled the sequence.", token),
                };

                sequence.FinishReason = finish;
                LoggedToken? logged = output.Logprobs is { } lp ? new LoggedToken(output.TokenId, lp) : null;
                var prompt = output.PromptLogprobs is { } scores ? LogprobsJson.Prompt(request.PromptTokens, scores) : null;
                await EmitAsync(run, sequence, text, output.TokenId, finish, logged, prompt).ConfigureAwait(false);
                if (finish is not null)
                {
                    if (!last)
                    {
                        // Stop string: end the engine's sequence now rather than when the enumerator is disposed.
                        await own!.CancelAsync().ConfigureAwait(false);
                    }

                    break;
                }
            }
        }
        catch (OperationCanceledException) when (sequence.FinishReason is not null && !run.Token.IsCancellationRequested)
        {
            // Our own cancellation after a stop string, surfacing from the enumerator's disposal.
        }

        if (sequence.FinishReason is null)
        {
            // The engine ended the sequence without a finish reason: close the choice anyway.
            run.Token.ThrowIfCancellationRequested();
            var rest = detokenizer.Flush();
            if (stops is not null)
            {
                rest = Join(stops.Push(rest).Emit, stops.IsStopped ? "" : stops.Flush());
            }

            sequence.FinishReason = "stop";
            await EmitAsync(run, sequence, rest, -1, "stop", null, null).ConfigureAwait(false);
        }
    }

    private bool IsStopToken(int tokenId, EngineRequest request)
    {
        for (var i = 0; i < _eosTokenIds.Count; i++)
        {
            if (_eosTokenIds[i] == tokenId)
            {
                return !request.IgnoreEos;
            }
        }

        for (var i = 0; i < request.StopTokenIds.Count; i++)
        {
            if (request.StopTokenIds[i] == tokenId)
            {
                return true;
            }
        }

        return false;
    }

    private static string Join(string a, string b) => b.Length == 0 ? a : a.Length == 0 ? b : string.Concat(a, b);

    /// <param name="prompt">On the first output of a request with <c>prompt_logprobs</c>: the prompt's tokens and scores,
    /// written on that output's chunk as <c>prompt_logprobs</c> (the completions <c>logprobs</c> shape).</param>
    private static async ValueTask EmitAsync(Run run, Sequence sequence, string text, int tokenId, string? finish, LoggedToken? logged, LoggedToken[]? prompt)
    {
        if (!run.Streaming)
        {
            sequence.PromptLogprobs ??= prompt;
            sequence.Text!.Append(text);
            if (tokenId >= 0)
            {
                sequence.TokenIds!.Add(tokenId);
            }

            if (logged is { } entry)
            {
                sequence.Logprobs!.Add(entry);
            }

            return;
        }

        // Chat chunks carry no token ids: one with nothing to say (a character or a stop string held back) is skipped,
        // unless it carries its token's log-probabilities.
        if (run.Kind == RequestKind.Chat && text.Length == 0 && finish is null && sequence.RoleSent && logged is null)
        {
            return;
        }

        var writeLock = run.WriteLock;
        if (writeLock is not null)
        {
            await writeLock.WaitAsync(run.Token).ConfigureAwait(false);
        }

        try
        {
            var json = run.Json!;
            run.Output.Write("data: "u8);
            if (run.Kind == RequestKind.Chat)
            {
                OpenAiWriter.ChatChunk(json, run.Header, sequence.Index, !sequence.RoleSent, text, finish, run.Logprobs, logged);
                sequence.RoleSent = true;
            }
            else
            {
                OpenAiWriter.CompletionChunk(json, run.Header, sequence, text, tokenId, finish, run.Logprobs, logged, prompt);
            }

            json.Flush();
            json.Reset();
            run.Output.Write("\n\n"u8);

            // A sequence's last chunk goes out with the usage chunk and [DONE]: one write instead of three.
            if (finish is null)
            {
                await run.Output.FlushAsync(run.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            writeLock?.Release();
        }
    }

    private async ValueTask<ParsedRequest> ParseAsync(HttpRequest httpRequest, RequestKind kind, CancellationToken cancellationToken)
    {
        var max = Math.Min(_limits.MaxBodyBytes, Array.MaxLength);
        var reader = httpRequest.BodyReader;
        var tooLarge = httpRequest.ContentLength > max;
        if (tooLarge && httpRequest.ContentLength > DrainLimit(_limits))
        {
            throw HttpErrors.TooLarge(max);
        }

        while (true)
        {
            ReadResult result;
            try
            {
                result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == 413)
            {
                // Kestrel's hard limit (the connection then closes).
                throw HttpErrors.TooLarge(max);
            }
            catch (Exception ex) when (OpenAiErrors.BodyReadFailure(ex, httpRequest.HttpContext) is { } failure)
            {
                // A malformed chunked body: Kestrel reports most framing errors as a bad request, an overflowing chunk
                // size as a plain IOException; both are the client's fault (400), not the engine's (500).
                throw failure;
            }

            var buffer = result.Buffer;
            if (tooLarge || buffer.Length > max)
            {
                // Read the rest and drop it: a client (HttpClient among them) sends the whole body before it reads the
                // answer, and would see a broken pipe instead of the 413 if the connection closed under it.
                tooLarge = true;
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    throw HttpErrors.TooLarge(max);
                }

                continue;
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                try
                {
                    if (buffer.IsSingleSegment)
                    {
                        return OpenAiRequestParser.Parse(kind, buffer.FirstSpan, _limits);
                    }

                    var length = (int)buffer.Length;
                    var copy = ArrayPool<byte>.Shared.Rent(length);
                    try
                    {
                        buffer.CopyTo(copy);
                        return OpenAiRequestParser.Parse(kind, copy.AsSpan(0, length), _limits);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(copy);
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.End);
                }
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// Bodies over the limit are still read (and dropped) up to this size so the client gets its 413; beyond it Kestrel
    /// cuts the connection.
    /// </summary>
    internal static long DrainLimit(RequestLimits limits) => Math.Max(limits.MaxBodyBytes, 64L * 1024 * 1024);

    private int[][] PromptTokens(ParsedRequest request, CancellationToken cancellationToken)
    {
        if (request.Echo)
        {
            // The frontend echoes the prompt itself (and sends no echo on): a worker's prompt is token ids, often a
            // migrated request's prompt plus output already streamed.
            throw OpenAiException.BadRequest(
                "'echo' is not supported by a worker's own endpoint; send the request through the frontend, which echoes the prompt.",
                "echo", "unsupported_parameter");
        }

        if (request.Kind == RequestKind.Chat)
        {
            if (request.UsesTools)
            {
                // Tool calls are read from the answer by the frontend; here they would come back as raw text.
                throw OpenAiException.BadRequest(
                    "'tools' is not supported by a worker's own endpoint (tool calling); send the request through the frontend, which parses the model's tool calls.",
                    "tools", "unsupported_parameter");
            }

            string text;
            try
            {
                text = _card.ChatTemplate.Render(request.Messages);
            }
            catch (TemplateRaisedException ex)
            {
                // The template's own raise_exception ("roles must alternate", ...): the messages are at fault.
                throw OpenAiException.BadRequest(ex.Message, "messages");
            }

            return [Encode(text, "messages", cancellationToken)];
        }

        var prompts = new int[request.Prompts.Count][];
        for (var i = 0; i < prompts.Length; i++)
        {
            var prompt = request.Prompts[i];
            prompts[i] = prompt.TokenIds ?? Encode(prompt.Text!, prompts.Length == 1 ? "prompt" : $"prompt[{i}]", cancellationToken);
        }

        return prompts;
    }

    private int[] Encode(string text, string param, CancellationToken cancellationToken)
    {
        var ids = _card.Encoder.Encode(text, cancellationToken);
        if (ids.Length == 0)
        {
            throw OpenAiException.BadRequest($"'{param}' encodes to no tokens.", param);
        }

        return ids;
    }

    private Sequence[] BuildSequences(ParsedRequest request, int[][] prompts, string requestId)
    {
        var n = request.N;
        var sequences = new Sequence[prompts.Length * n];
        var kvTransfer = KvTransferParams.Parse(request.KvTransferParams, out var kvProblem);
        if (kvProblem is not null)
        {
            WorkerLog.KvTransferParamsIgnored(_logger, requestId, kvProblem);
        }

        var promptParam = request.Kind == RequestKind.Chat ? "messages" : "prompt";
        var structured = StructuredSpec(request, prompts);
        for (var p = 0; p < prompts.Length; p++)
        {
            var length = prompts[p].Length;
            if (length >= _maxContext)
            {
                throw OpenAiException.BadRequest(
                    $"This model's maximum context length is {_maxContext} tokens. However, your {promptParam} has {length} tokens, " +
                    "leaving no room for the completion. Please reduce the length of the prompt.",
                    promptParam,
                    "context_length_exceeded");
            }

            var maxTokens = request.MaxTokens ?? _maxContext - length;
            if ((long)length + maxTokens > _maxContext)
            {
                throw OpenAiException.BadRequest(
                    $"This model's maximum context length is {_maxContext} tokens. However, you requested {(long)length + maxTokens} tokens " +
                    $"({length} in the {promptParam}, {maxTokens} for the completion). Please reduce the length of the prompt or the completion.",
                    "max_tokens",
                    "context_length_exceeded");
            }

            for (var j = 0; j < n; j++)
            {
                var index = p * n + j;
                var sampling = request.Sampling;
                if (index > 0 && sampling.Seed is { } seed)
                {
                    // Same seed for every choice would give n identical samples.
                    sampling = sampling with { Seed = unchecked(seed + (ulong)index) };
                }

                sequences[index] = new Sequence(index, p, new EngineRequest
                {
                    RequestId = EngineRequestId(requestId, index),
                    PromptTokens = prompts[p],
                    MaxTokens = maxTokens,
                    Sampling = sampling,
                    IgnoreEos = request.IgnoreEos,
                    StopTokenIds = request.StopTokenIds,
                    Constraint = structured is null ? null : Constraint(structured, prompts[p], request.GeneratedPromptTokens),
                    Logprobs = request.Logprobs,
                    Priority = request.Hints?.Priority ?? 0,
                    PromptLogprobs = request.PromptLogprobs,

                    // Disaggregation moves one sequence's KV: only a single prompt with n = 1 takes part.
                    KvTransfer = sequences.Length == 1 ? kvTransfer : null,
                });
            }
        }

        return sequences;
    }

    /// <summary>What <c>response_format</c> asks of every sequence; null when it asks for nothing.</summary>
    private StructuredOutputSpec? StructuredSpec(ParsedRequest request, int[][] prompts)
    {
        if (request.ResponseFormat is not { } format)
        {
            return null;
        }

        if (format.Grammar is not JsonGrammar grammar || !StructuredOutput.Supports(_card.Tokenizer))
        {
            throw OpenAiException.BadRequest(
                $"'response_format' needs a byte-level tokenizer (one whose tokens' bytes are known); the model '{OpenAiException.Shorten(_model)}' does not have one.",
                "response_format", "unsupported_parameter");
        }

        if (request.GeneratedPromptTokens > 0 && (prompts.Length != 1 || request.GeneratedPromptTokens >= prompts[0].Length))
        {
            throw OpenAiException.BadRequest("'generated_prompt_tokens' must be less than the length of a single prompt.", "generated_prompt_tokens");
        }

        return new StructuredOutputSpec(grammar) { Prefix = format.Prefix, Suffix = format.Suffix };
    }

    /// <summary>
    /// One sequence's constraint. A migrated request's prompt ends with the output generated so far: those tokens go
    /// through the constraint first, so that it resumes where the failed worker left off.
    /// </summary>
    private ITokenConstraint Constraint(StructuredOutputSpec spec, int[] prompt, int generated)
    {
        var vocabSize = _engine.Info.VocabSize > 0 ? _engine.Info.VocabSize : _card.VocabSize;
        var constraint = StructuredOutput.CreateConstraint(_card.Tokenizer, vocabSize, spec, _eosTokenIds);
        for (var i = prompt.Length - generated; i < prompt.Length; i++)
        {
            if (!constraint.TryAccept(prompt[i]))
            {
                throw OpenAiException.BadRequest(
                    $"The prompt's last {generated} tokens ('generated_prompt_tokens') are not output that 'response_format' allows.", "generated_prompt_tokens");
            }
        }

        return constraint;
    }

    private static UsageCounts Usage(Run run)
    {
        var prompts = run.Sequences.Length / run.Request.N;
        var promptTokens = 0;
        for (var i = 0; i < run.Sequences.Length; i += run.Request.N)
        {
            promptTokens += run.Sequences[i].Request.PromptTokens.Length;
        }

        return Usage(promptTokens, prompts, run.Sequences);
    }

    private static UsageCounts Usage(int[][] prompts, Sequence[] sequences)
    {
        var promptTokens = 0;
        foreach (var prompt in prompts)
        {
            promptTokens += prompt.Length;
        }

        return Usage(promptTokens, prompts.Length, sequences);
    }

    /// <summary>
    /// Prompt tokens count once per prompt, however many samples it has (as OpenAI counts them); so do cached
    /// tokens, taking the best hit among a prompt's samples.
    /// </summary>
    private static UsageCounts Usage(int promptTokens, int promptCount, Sequence[] sequences)
    {
        var completion = 0;
        var cached = 0;
        var n = sequences.Length / promptCount;
        for (var p = 0; p < promptCount; p++)
        {
            var best = 0;
            for (var j = 0; j < n; j++)
            {
                var s = sequences[p * n + j];
                completion += s.CompletionTokens;
                best = Math.Max(best, s.CachedTokens);
            }

            cached += best;
        }

        return new UsageCounts(promptTokens, completion, cached);
    }

    private void Completed(string requestId, int[][] prompts, Sequence[] sequences, Activity? activity)
    {
        var usage = Usage(prompts, sequences);
        _metrics.TokensGenerated(usage.CompletionTokens);
        if (activity is not null)
        {
            activity.SetTag("gen_ai.usage.input_tokens", usage.PromptTokens);
            activity.SetTag("gen_ai.usage.output_tokens", usage.CompletionTokens);
            activity.SetTag("dynamo.cached_tokens", usage.CachedTokens);
            activity.SetTag("dynamo.sequences", sequences.Length);
        }

        if (_logRequests)
        {
            WorkerLog.RequestCompleted(_logger, requestId, sequences.Length, usage.PromptTokens, usage.CachedTokens, usage.CompletionTokens);
        }
    }

    /// <summary>The engine request of choice <paramref name="index"/> of the worker request <paramref name="requestId"/>.</summary>
    internal static string EngineRequestId(string requestId, int index) =>
        requestId + "-" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// <c>POST /v1/kv_transfer/release</c> with <c>{"request_id"}</c> (the <c>x-request-id</c> the gateway sent with a
    /// prefill request): the gateway will not have the prompt's KV read (its client went away, the decode failed), so
    /// the prefill's pins go now instead of at the pin timeout. 202: accepted (releasing nothing is not an error).
    /// </summary>
    public async Task ReleaseKvTransferAsync(HttpContext context)
    {
        if (_engine is not IKvTransferPins pins)
        {
            await HttpErrors.WriteAsync(context, new OpenAiException(404, "This worker's engine keeps no KV pins.", "invalid_request_error", null, "not_found")).ConfigureAwait(false);
            return;
        }

        string? requestId = null;
        try
        {
            using var document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted).ConfigureAwait(false);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("request_id", out var id) && id.ValueKind == JsonValueKind.String)
            {
                requestId = id.GetString();
            }
        }
        catch (JsonException)
        {
        }

        if (requestId is not { Length: > 0 and <= MaxRequestIdLength } || !IsPrintableAscii(requestId))
        {
            await HttpErrors.WriteAsync(context, OpenAiException.BadRequest(
                $"The body must be a JSON object with \"request_id\": the x-request-id of the prefill request (1..{MaxRequestIdLength} printable ASCII characters).", "request_id")).ConfigureAwait(false);
            return;
        }

        pins.ReleasePins(EngineRequestId(requestId, 0));
        context.Response.StatusCode = 202;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync("{\"status\":\"accepted\"}", context.RequestAborted).ConfigureAwait(false);
    }

    private string RequestIdFor(HttpContext context)
    {
        // The gateway's id, when it sends one, so a request can be followed from the gateway into the engine.
        if (context.Request.Headers.TryGetValue("x-request-id", out var values) && values.Count == 1 && values[0] is { Length: > 0 and <= MaxRequestIdLength } given && IsPrintableAscii(given))
        {
            return given;
        }

        return _idPrefix + Interlocked.Increment(ref _requestCounter).ToString("x", System.Globalization.CultureInfo.InvariantCulture);
    }

    private static bool IsPrintableAscii(string s)
    {
        foreach (var c in s)
        {
            if (c is < '!' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    private static Activity? StartActivity(HttpContext context, RequestKind kind, string requestId)
    {
        var source = Telemetry.Worker;
        if (!source.HasListeners())
        {
            return null;
        }

        var name = kind == RequestKind.Chat ? "worker chat_completions" : "worker completions";
        Activity? activity;
        if (Activity.Current is not null)
        {
            // ASP.NET Core's request activity already carries the caller's W3C context.
            activity = source.StartActivity(name, ActivityKind.Internal);
        }
        else
        {
            // ASP.NET Core's instrumentation is off: read the caller's context from the headers ourselves.
            DistributedContextPropagator.Current.ExtractTraceIdAndState(
                context.Request.Headers,
                static (carrier, field, out value, out values) =>
                {
                    values = null;
                    value = ((IHeaderDictionary)carrier!)[field];
                },
                out var traceParent,
                out var traceState);
            ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent);
            activity = source.StartActivity(name, ActivityKind.Server, parent);
        }

        activity?.SetTag("dynamo.request_id", requestId);
        return activity;
    }

    /// <summary>Everything one request's sequences share.</summary>
    private sealed class Run(RequestKind kind, ParsedRequest request, ResponseHeader header, Sequence[] sequences, CancellationTokenSource cancellation, PipeWriter output)
    {
        public RequestKind Kind { get; } = kind;

        public ParsedRequest Request { get; } = request;

        public ResponseHeader Header { get; set; } = header;

        public Sequence[] Sequences { get; } = sequences;

        public CancellationTokenSource Cancellation { get; } = cancellation;

        public CancellationToken Token { get; } = cancellation.Token;

        public PipeWriter Output { get; } = output;

        public bool Streaming => Request.Stream;

        public Utf8JsonWriter? Json { get; set; }

        /// <summary>Writes the tokens' log-probabilities; null when the request asked for none.</summary>
        public LogprobsJson? Logprobs { get; init; }

        /// <summary>Serialises chunk writes when several sequences stream into one response.</summary>
        public SemaphoreSlim? WriteLock { get; set; }

        public Exception? Failure;
    }
}
