using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;
using Dynamo.Engine.Compute;
using Dynamo.Engine.Model;
using Dynamo.Engine.Sampling;
using Dynamo.Engine.Scheduling;
using Dynamo.Engine.Transfer;
using Dynamo.KvCache;
using Dynamo.Transfer;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Engine;

/// <summary>
/// The .NET inference engine (<c>--engine dotnet</c>): a Llama-family model over a paged KV cache whose blocks
/// the shared <see cref="KvCache.BlockPool"/> manages (prefix caching, KV events). One dedicated thread runs
/// the loop: admit requests, schedule a step (decodes first, then prefill chunks, within
/// <see cref="DotnetEngineOptions.MaxNumBatchedTokens"/> and <see cref="DotnetEngineOptions.MaxNumSeqs"/>),
/// run the forward pass, sample, stream. When a running sequence needs a block and none is free, the most
/// recently admitted sequence is preempted: its blocks are released and it is recomputed later.
/// </summary>
public sealed class DotnetEngine : IEngine, IKvTransferTelemetry, IKvTransferPins
{
    private static readonly TimeSpan IdleWait = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ThrottledWait = TimeSpan.FromMilliseconds(20);

    /// <summary>Prompt positions whose logits are projected together when a request scores its prompt: 8 rows of the vocabulary at a time.</summary>
    private const int PromptRowsPerProjection = 8;

    private readonly DotnetEngineOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IComputeBackend _backend;
    private readonly LlamaModel _model;
    private readonly PagedKvCache _cache;
    private readonly BlockPool _pool;
    private readonly Sampler _sampler;
    private readonly TokenMask _mask;
    private readonly HashSet<int> _eos;
    private readonly ConcurrentQueue<EngineSequence> _incoming = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private readonly List<EngineSequence> _running = [];
    private readonly List<EngineSequence> _transferring = [];
    private readonly ConcurrentQueue<(EngineSequence Sequence, TransferResult Result)> _transfersDone = new();
    private readonly LinkedList<EngineSequence> _waiting = new();
    private readonly ForwardBatch _batch = new();
    private readonly List<ScheduledChunk> _scheduled = [];
    private readonly float[] _logits;
    private float[]? _promptLogits;
    private float[]? _promptScratch;
    private KvTransferConnector? _transfer;
    private long _arrivals;
    private int _runningCount;
    private int _waitingCount;
    private long _pendingPrefillTokens;
    private long _preemptions;
    private long _remotePrefills;
    private long _remotePrefillFallbacks;
    private int _pinnedCount;
    private long _steps;
    private long _stepTicks;
    private int _disposed;

    public DotnetEngine(string modelDirectory, DotnetEngineOptions options, IKvEventSink? kvEventSink = null, TimeProvider? timeProvider = null,
        ILogger<DotnetEngine>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _backend = ComputeBackends.Create(options.Backend, options.Threads, _logger);
        try
        {
            _model = LlamaModel.Load(modelDirectory, _backend, _logger);
            var c = _model.Config;
            var blocks = options.NumKvBlocks
                ?? PagedKvCache.BlocksFor(options.KvCacheBytes ?? (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * options.KvCacheMemoryFraction),
                    options.BlockSize, c.NumHiddenLayers, c.NumKeyValueHeads, c.HeadDim);
            if (blocks < 1)
            {
                throw new ArgumentException($"Dynamo:Engine:KvCacheBytes leaves no room for one KV block of {options.BlockSize} tokens ({c.KvBytesPerToken * options.BlockSize} bytes)");
            }

            _cache = new PagedKvCache(blocks, options.BlockSize, c.NumHiddenLayers, c.NumKeyValueHeads, c.HeadDim);
            _pool = new BlockPool(new BlockPoolOptions
            {
                BlockSize = options.BlockSize,
                TotalBlocks = blocks,
                WorkerId = options.WorkerId,
                ReplayBufferSize = options.KvEventReplayBufferSize,
            }, kvEventSink);
            _sampler = new Sampler(c.VocabSize);
            _mask = new TokenMask(c.VocabSize);
            _logits = GC.AllocateUninitializedArray<float>(options.MaxNumSeqs * c.VocabSize, pinned: true);
            _eos = [.. c.EosTokenIds];
            Info = new EngineInfo
            {
                ModelName = options.ServedModelName ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDirectory))),
                EngineKind = "dotnet",
                BlockSize = options.BlockSize,
                TotalKvBlocks = blocks,
                MaxContextLength = (int)Math.Min(c.MaxPositionEmbeddings, (long)blocks * options.BlockSize),
                VocabSize = c.VocabSize,
                EosTokenIds = c.EosTokenIds,
            };
            EngineLog.KvCacheAllocated(_logger, blocks, options.BlockSize, _cache.BytesPerToken, _cache.ByteLength >> 20, _cache.BaseAddress);
            EngineLog.EngineOptions(_logger, options.BlockSize, options.MaxNumSeqs, options.MaxNumBatchedTokens, _backend.Threads, _backend.Name);
        }
        catch
        {
            _cache?.Dispose();
            _backend.Dispose();
            throw;
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "dynamo-engine-loop" };
        _thread.Start();
    }

    public EngineInfo Info { get; }

    public LlamaModel Model => _model;

    /// <summary>The KV memory the block ids index: the region a transfer agent registers.</summary>
    public PagedKvCache KvCache => _cache;

    /// <summary>The block manager: prefix cache, KV events, replay and dump.</summary>
    public BlockPool BlockPool => _pool;

    /// <summary>Prefill transfers kept for decode workers right now (0 without a transfer agent).</summary>
    public int PinnedTransfers => Volatile.Read(ref _pinnedCount);

    /// <inheritdoc />
    public int PinnedBlocks => _transfer?.PinnedBlocks ?? 0;

    /// <inheritdoc />
    public long DeclinedPins => _transfer?.DeclinedPins ?? 0;

    /// <inheritdoc />
    public long RefusedTransferReads => _transfer?.RefusedReads ?? 0;

    /// <inheritdoc />
    public void ReleasePins(string requestId)
    {
        ArgumentNullException.ThrowIfNull(requestId);
        _transfer?.RequestRelease(requestId);
    }

    /// <summary>Decode requests whose prompt KV was read from a prefill worker, and those that fell back to computing it.</summary>
    public (long Remote, long Fallback) RemotePrefills => (Interlocked.Read(ref _remotePrefills), Interlocked.Read(ref _remotePrefillFallbacks));

    /// <summary>
    /// Enables disaggregated serving: registers the KV pool with <paramref name="agent"/> (peers may read it), so
    /// requests with <see cref="KvTransferRequest.DoRemoteDecode"/> keep their prompt's blocks for a decode worker and
    /// requests with <see cref="KvTransferRequest.RemotePrefill"/> read them instead of computing the prompt.
    /// <paramref name="metadataLookup"/> fetches a peer agent's metadata by name when it is not loaded yet (from
    /// discovery). Call once, before the first request; the agent must outlive the engine.
    /// </summary>
    public void AttachTransferAgent(TransferAgent agent, KvTransferOptions? options = null, Func<string, CancellationToken, ValueTask<byte[]?>>? metadataLookup = null)
    {
        ArgumentNullException.ThrowIfNull(agent);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Volatile.Read(ref _arrivals) != 0 || _transfer is not null)
        {
            throw new InvalidOperationException("Attach the transfer agent once, before the first request.");
        }

        Volatile.Write(ref _transfer, new KvTransferConnector(agent, _cache, options ?? new KvTransferOptions(), metadataLookup, _logger, _time, Wake));
    }

    /// <inheritdoc />
    public event Action<KvTransferRecord>? KvTransferDone;

    /// <summary>The registered KV region, when a transfer agent is attached.</summary>
    public Dynamo.Transfer.Memory.MemoryRegion? KvRegion => _transfer?.Region;

    /// <summary>Sequences preempted (and later recomputed) since start.</summary>
    public long Preemptions => Interlocked.Read(ref _preemptions);

    /// <summary>
    /// Prompt tokens admitted but not yet computed (waiting sequences' whole prompts plus running sequences' unfinished
    /// prefill), as of the last step: the "prefill tokens in flight", which <see cref="EngineLoad"/> has no field for.
    /// </summary>
    public long PendingPrefillTokens => Interlocked.Read(ref _pendingPrefillTokens);

    /// <summary>Forward steps run since start.</summary>
    public long Steps => Interlocked.Read(ref _steps);

    /// <summary>Time spent in forward steps since start.</summary>
    public TimeSpan StepTime => TimeSpan.FromTicks(Interlocked.Read(ref _stepTicks));

    public async IAsyncEnumerable<EngineOutput> GenerateAsync(EngineRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        Validate(request);
        cancellationToken.ThrowIfCancellationRequested();
        var sequence = new EngineSequence(request, Interlocked.Increment(ref _arrivals), _options.OutputBufferTokens);
        _incoming.Enqueue(sequence);
        Wake();
        var finished = false;
        try
        {
            var reader = sequence.Output.Reader;
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (reader.TryRead(out var output))
                {
                    if (sequence.Throttled)
                    {
                        sequence.Throttled = false;
                        Wake();
                    }

                    finished = output.Finish is not null;
                    yield return output;
                }
            }
        }
        finally
        {
            if (!finished)
            {
                // Cancelled, abandoned or failed: the loop drops the sequence and frees its blocks at its next step.
                sequence.Abandoned = true;
                Wake();

                // A prefill's handoff that nobody took: its pin has no reader.
                while (sequence.Output.Reader.TryRead(out var unread))
                {
                    if (unread.KvTransfer is not null)
                    {
                        _transfer?.RequestRelease(request.RequestId);
                    }
                }
            }
        }
    }

    public EngineLoad GetLoad()
    {
        var stats = _pool.GetStats();
        return new EngineLoad
        {
            RunningRequests = Volatile.Read(ref _runningCount),
            WaitingRequests = Volatile.Read(ref _waitingCount) + _incoming.Count,
            KvBlocksUsed = stats.UsedBlocks,
            KvBlocksTotal = stats.TotalBlocks,
            PrefixCacheHitRate = stats.HitRate,
        };
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _stopped.Task.ConfigureAwait(false);
        if (_transfer is { } transfer)
        {
            // Returns once no transfer reads from or writes into the pool.
            await transfer.DisposeAsync().ConfigureAwait(false);
        }

        _cache.Dispose();
        _backend.Dispose();
        _stopping.Dispose();

        // _wake is not disposed: readers still draining their streams may signal it, and it holds no wait handle.
    }

    private void Wake()
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            _wake.Release();
        }
    }

    private void Validate(EngineRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.PromptTokens is not { Length: > 0 })
        {
            throw new ArgumentException($"request {request.RequestId}: the prompt is empty", nameof(request));
        }

        if (request.MaxTokens < 1)
        {
            throw new ArgumentException($"request {request.RequestId}: max_tokens {request.MaxTokens} must be at least 1", nameof(request));
        }

        if (request.PromptTokens.Length >= Info.MaxContextLength)
        {
            throw new ArgumentException($"request {request.RequestId}: the prompt has {request.PromptTokens.Length} tokens; this engine's context holds {Info.MaxContextLength} (prompt plus at least one generated token)", nameof(request));
        }

        if (request.Logprobs is < 0 or > LogprobMath.MaxTop)
        {
            throw new ArgumentException($"request {request.RequestId}: logprobs {request.Logprobs} must be between 0 and {LogprobMath.MaxTop}", nameof(request));
        }

        if (request.PromptLogprobs is < 0 or > LogprobMath.MaxTop)
        {
            throw new ArgumentException($"request {request.RequestId}: prompt logprobs {request.PromptLogprobs} must be between 0 and {LogprobMath.MaxTop}", nameof(request));
        }

        foreach (var token in request.PromptTokens)
        {
            if ((uint)token >= (uint)Info.VocabSize)
            {
                throw new ArgumentException($"request {request.RequestId}: token id {token} is outside the vocabulary 0..{Info.VocabSize - 1}", nameof(request));
            }
        }
    }

    private void Run()
    {
        var stopping = _stopping.Token;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                Admit();
                if (_transfer is { } transfer)
                {
                    transfer.ReleaseDone(_pool.Release);
                    Volatile.Write(ref _pinnedCount, transfer.PinnedCount);
                    FinishTransfers();
                }

                DropAbandoned();
                var throttled = false;
                if (!Schedule(ref throttled))
                {
                    PublishCounts();
                    _wake.Wait(throttled ? ThrottledWait : IdleWait, stopping);
                    continue;
                }

                PublishCounts();
                var started = _time.GetTimestamp();
                try
                {
                    _model.Forward(_batch, _cache, _logits);
                }
                catch (Exception ex)
                {
                    EngineLog.StepFailed(_logger, ex, _scheduled.Count);
                    foreach (var chunk in _scheduled)
                    {
                        End(chunk.Sequence, ex);
                    }

                    continue;
                }

                Interlocked.Add(ref _stepTicks, _time.GetElapsedTime(started).Ticks);
                Interlocked.Increment(ref _steps);
                Complete();
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        finally
        {
            var shutdown = new OperationCanceledException("The engine shut down.");
            foreach (var sequence in _running.Concat(_transferring).Concat(_waiting).Concat(_incoming).ToList())
            {
                End(sequence, shutdown);
            }

            _stopped.TrySetResult();
        }
    }

    private void Admit()
    {
        while (_incoming.TryDequeue(out var sequence))
        {
            // By priority, then arrival: behind every waiting sequence of its priority or higher (a walk from the
            // back that stops at once when priorities are equal, the common case).
            var priority = sequence.Request.Priority;
            var after = _waiting.Last;
            while (after is not null && after.Value.Request.Priority < priority)
            {
                after = after.Previous;
            }

            if (after is null)
            {
                _waiting.AddFirst(sequence);
            }
            else
            {
                _waiting.AddAfter(after, sequence);
            }
        }
    }

    private void DropAbandoned()
    {
        for (var i = _running.Count - 1; i >= 0; i--)
        {
            if (_running[i].Abandoned)
            {
                End(_running[i], null);
            }
        }

        for (var node = _waiting.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.Abandoned)
            {
                End(node.Value, null);
            }

            node = next;
        }
    }

    /// <summary>Fills the batch; false when there is nothing to run.</summary>
    private bool Schedule(ref bool throttled)
    {
        _batch.Clear();
        _scheduled.Clear();
        var budget = _options.MaxNumBatchedTokens;

        // Running sequences first, oldest first: decodes and unfinished prefills.
        for (var i = 0; i < _running.Count && budget > 0; i++)
        {
            var sequence = _running[i];
            if (sequence.Output.Reader.Count >= sequence.OutputCapacity)
            {
                sequence.Throttled = true;
                throttled = true;
                continue;
            }

            if (sequence.NeedsAppend && !AppendOrPreempt(i))
            {
                i--;
                continue;
            }

            budget -= AddChunk(sequence, budget);
        }

        // Then waiting ones (preempted first), while blocks, slots and budget last.
        while (budget > 0 && _running.Count + _transferring.Count < _options.MaxNumSeqs && _waiting.First is { } node)
        {
            var sequence = node.Value;
            sequence.Kv ??= _pool.CreateSequence(CollectionsMarshal.AsSpan(sequence.Tokens));
            var reserve = _running.Count == 0 ? 0 : Math.Max(1, _pool.TotalBlocks / 100);

            // A request scoring its prompt needs every prompt position's logits: nothing of it comes from the prefix cache.
            var scoresPrompt = sequence.ScoresPrompt;
            if (!_pool.TryAllocate(sequence.Kv, reserve, matchPrefix: !scoresPrompt))
            {
                break;
            }

            if (scoresPrompt)
            {
                sequence.PromptLogprobs = new List<TokenLogprobs?>(sequence.Request.PromptTokens.Length) { null };
            }

            _waiting.RemoveFirst();
            sequence.CachedTokens ??= sequence.Kv.CachedTokens;
            if (TryStartRemotePrefill(sequence))
            {
                _transferring.Add(sequence);
                continue;
            }

            _running.Add(sequence);
            budget -= AddChunk(sequence, budget);
        }

        return _batch.TokenCount > 0;
    }

    private int AddChunk(EngineSequence sequence, int budget)
    {
        var kv = sequence.Kv!;
        var start = kv.ComputedTokens;
        var count = Math.Min(kv.TokenCount - start, budget);
        if (count <= 0)
        {
            return 0;
        }

        var wantLogits = start + count == kv.TokenCount;
        var firstToken = _batch.TokenCount;
        var row = _batch.Add(CollectionsMarshal.AsSpan(sequence.Tokens).Slice(start, count), start, kv.Blocks.ToArray(), wantLogits);
        _scheduled.Add(new ScheduledChunk(sequence, start + count, row, firstToken, count));
        return count;
    }

    /// <summary>
    /// Appends the sequence's last sampled token to its blocks, preempting the most recently admitted
    /// running sequences while no block is free. False when the sequence itself had to be preempted.
    /// </summary>
    private bool AppendOrPreempt(int index)
    {
        var sequence = _running[index];
        while (!_pool.TryAppendToken(sequence.Kv!, sequence.Tokens[^1]))
        {
            var victimIndex = _running.Count - 1;
            if (victimIndex <= index)
            {
                Preempt(index);
                return false;
            }

            Preempt(victimIndex);
        }

        sequence.NeedsAppend = false;
        return true;
    }

    private void Preempt(int index)
    {
        var sequence = _running[index];
        _running.RemoveAt(index);
        _pool.Release(sequence.Kv!);
        EngineLog.Preempted(_logger, sequence.Request.RequestId, sequence.Tokens.Count);

        // Recompute from prompt plus generated tokens; the prefix cache usually gives most of it back.
        sequence.Kv = null;
        sequence.NeedsAppend = false;
        sequence.Preemptions++;
        Interlocked.Increment(ref _preemptions);
        _waiting.AddFirst(sequence);
    }

    private void Complete()
    {
        var vocab = _model.Config.VocabSize;
        foreach (var chunk in _scheduled)
        {
            var sequence = chunk.Sequence;
            if (sequence.Finished || sequence.Kv is null)
            {
                continue;
            }

            _pool.MarkComputed(sequence.Kv, chunk.ComputedAfter);
            if (sequence.PromptLogprobs is not null)
            {
                ScorePrompt(sequence, chunk);
            }

            if (chunk.LogitsRow < 0)
            {
                continue;
            }

            var logits = _logits.AsSpan(chunk.LogitsRow * vocab, vocab);
            if (sequence.Request.Constraint is { } constraint && !_mask.Apply(constraint, logits))
            {
                // Nothing may follow (a replayed migration that had finished its JSON, or a vocabulary that cannot
                // spell what must come next): end with an end-of-sequence token, which carries no text.
                Emit(sequence, _model.Config.EosTokenIds.Count > 0 ? _model.Config.EosTokenIds[0] : 0, FinishReason.Stop);
                continue;
            }

            var token = _sampler.Sample(logits, sequence.Sampling, sequence.Request.Logprobs, out var logprobs);
            Emit(sequence, token, logprobs: logprobs);
        }
    }

    /// <summary>
    /// The prompt's log-probabilities at the positions of one prefill chunk: position p's logits score prompt token p + 1
    /// (the last prompt position's are the sampling row, which scores no prompt token). Raw scores: the log-softmax of
    /// the logits as the model gives them, without the penalties, temperature or truncation that shape sampling (vLLM's
    /// prompt_logprobs are the same). The vocabulary projection runs <see cref="PromptRowsPerProjection"/> rows at a time,
    /// so a long prompt never holds [prompt × vocabulary] floats.
    /// </summary>
    private void ScorePrompt(EngineSequence sequence, ScheduledChunk chunk)
    {
        var scores = sequence.PromptLogprobs!;
        var prompt = sequence.Request.PromptTokens;
        var top = sequence.Request.PromptLogprobs ?? 0;
        var start = chunk.ComputedAfter - chunk.Count;
        var end = Math.Min(chunk.ComputedAfter, prompt.Length - 1);
        Debug.Assert(start >= end || scores.Count == start + 1, "Prompt chunks are scored in order, from position 0.");
        var vocab = _model.Config.VocabSize;
        _promptLogits ??= new float[PromptRowsPerProjection * vocab];
        _promptScratch ??= new float[vocab];
        for (var p = start; p < end; p += PromptRowsPerProjection)
        {
            var rows = Math.Min(PromptRowsPerProjection, end - p);
            _model.ProjectTokens(chunk.FirstToken + (p - start), rows, _promptLogits);
            for (var r = 0; r < rows; r++)
            {
                var logits = _promptLogits.AsSpan(r * vocab, vocab);
                var logZ = LogprobMath.LogSumExp(logits, _promptScratch);
                scores.Add(new TokenLogprobs(logits[prompt[p + r + 1]] - logZ, LogprobMath.Top(logits, top, logZ)));
            }
        }
    }

    /// <summary>Streams a token the sequence produced (sampled here, or sampled by a remote prefill) and ends it when done.</summary>
    private void Emit(EngineSequence sequence, int token, FinishReason? forced = null, TokenLogprobs? logprobs = null)
    {
        sequence.Sampling.Record(token);
        sequence.Tokens.Add(token);
        sequence.Generated++;
        var request = sequence.Request;
        var finish = forced ?? FinishFor(sequence, token);

        RemoteKvBlocks? handoff = null;
        var declined = false;
        if (finish != FinishReason.Stop && sequence.Generated == 1 && request.KvTransfer?.DoRemoteDecode == true
            && _transfer is { } transfer && sequence.Kv is { } kv)
        {
            if (transfer.TryReserve(kv.Blocks.Length, _pool.TotalBlocks))
            {
                // Prefill for a remote decode: the prompt's KV is complete (its last chunk produced this token). Keep the
                // blocks for the decode worker instead of freeing them; End below leaves them alone.
                handoff = transfer.Pin(request.RequestId, kv, request.PromptTokens, token) with { FirstLogprobs = logprobs };
                Volatile.Write(ref _pinnedCount, transfer.PinnedCount);
                sequence.Kv = null;
            }
            else
            {
                // Pins hold their share of the pool already: the decode worker computes this prompt itself.
                declined = true;
            }

            finish = FinishReason.Length;
        }

        TokenLogprobs?[]? promptLogprobs = null;
        if (sequence.PromptLogprobs is { } scored)
        {
            // Delivered once, with the first token; a preemption from here on recomputes the prompt from the cache.
            Debug.Assert(scored.Count == request.PromptTokens.Length, "Every prompt token is scored before the first token.");
            promptLogprobs = [.. scored];
            sequence.PromptLogprobs = null;
        }

        var written = sequence.Output.Writer.TryWrite(new EngineOutput(token, finish, sequence.CachedTokens ?? 0)
        {
            KvTransfer = handoff, KvTransferDeclined = declined, Logprobs = logprobs, PromptLogprobs = promptLogprobs,
        });
        Debug.Assert(written, "The scheduler only runs sequences with room in their output channel.");
        if (handoff is not null && sequence.Abandoned)
        {
            // The reader left while this step ran. It marks the sequence, then drains its channel: a handoff written
            // before the drain is released there, and this check (after the write) catches one written after it.
            _transfer!.RequestRelease(request.RequestId);
        }
        if (finish is not null)
        {
            End(sequence, null);
        }
        else
        {
            sequence.NeedsAppend = true;
        }
    }

    private FinishReason? FinishFor(EngineSequence sequence, int token)
    {
        var request = sequence.Request;
        if (ContainsToken(request.StopTokenIds, token) || (!request.IgnoreEos && _eos.Contains(token)))
        {
            return FinishReason.Stop;
        }

        if (request.Constraint is { } constraint && (!constraint.TryAccept(token) || constraint.IsComplete))
        {
            // The structured output is complete (or a remote prefill's token broke it, which the same constraint
            // there rules out): nothing may follow.
            return FinishReason.Stop;
        }

        if (sequence.Generated >= request.MaxTokens || sequence.Tokens.Count >= Info.MaxContextLength)
        {
            return FinishReason.Length;
        }

        return null;
    }

    /// <summary>
    /// For a decode request whose prompt was computed by a prefill worker: starts reading the prompt's blocks that
    /// the local prefix cache does not already hold. False when there is nothing to read or the blocks do not fit
    /// this engine; the sequence is then computed here like any other.
    /// </summary>
    private bool TryStartRemotePrefill(EngineSequence sequence)
    {
        var request = sequence.Request;
        // A request scoring its prompt computes it here: the prefill worker's KV would skip the positions it needs.
        if (_transfer is not { } transfer || request.KvTransfer?.RemotePrefill is not { } remote || sequence.RemotePrefillTried || sequence.Generated > 0
            || request.PromptLogprobs is not null)
        {
            return false;
        }

        sequence.RemotePrefillTried = true;
        var kv = sequence.Kv!;
        var prompt = request.PromptTokens.Length;
        var blocks = (prompt + _options.BlockSize - 1) / _options.BlockSize;
        var mismatch = remote.BlockSize != _options.BlockSize ? $"block size {remote.BlockSize}, this engine's is {_options.BlockSize}"
            : remote.BlockBytes != _cache.BlockBytes ? $"{remote.BlockBytes} bytes per block, this engine's are {_cache.BlockBytes} (another model or layout)"
            : remote.PromptTokens != prompt ? $"{remote.PromptTokens} prompt tokens, the request has {prompt}"
            : remote.BlockIds.Length != blocks ? $"{remote.BlockIds.Length} block ids for {blocks} blocks"
            : (uint)remote.FirstToken >= (uint)Info.VocabSize ? $"first token {remote.FirstToken} outside the vocabulary"
            : kv.TokenCount != prompt ? "the sequence already holds generated tokens"
            : request.Logprobs is not null && remote.FirstLogprobs is null
                ? "the request asks for log-probabilities and the handoff carries none for its first token"
            : null;
        if (mismatch is not null)
        {
            Interlocked.Increment(ref _remotePrefillFallbacks);
            EngineLog.RemotePrefillFallback(_logger, request.RequestId, remote.AgentName, "mismatch", mismatch);
            KvTransferDone?.Invoke(new KvTransferRecord(0, TimeSpan.Zero, "mismatch"));
            return false;
        }

        var firstBlock = kv.ComputedTokens / _options.BlockSize;
        var localBlocks = kv.Blocks.ToArray();
        var stopping = _stopping.Token;
        _ = ReadAsync();
        return true;

        async Task ReadAsync()
        {
            TransferResult result;
            try
            {
                result = await transfer.ReadAsync(remote, request.PromptTokens, localBlocks, firstBlock, stopping).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Whatever went wrong, the loop must hear back, or the sequence would wait forever.
                result = new TransferResult { Status = TransferStatus.Failed, Error = TransferErrorKind.BackendError, Message = e.Message };
            }

            _transfersDone.Enqueue((sequence, result));
            Wake();
        }
    }

    /// <summary>A metric label for a failed read: the error kind in snake case (<c>peer_unreachable</c>, <c>timeout</c>, ...).</summary>
    private static string FallbackReason(TransferErrorKind error) =>
        System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(error.ToString());

    /// <summary>Moves sequences whose remote prefill read ended into the batch: with the prompt's KV, or to compute it here.</summary>
    private void FinishTransfers()
    {
        while (_transfersDone.TryDequeue(out var done))
        {
            var (sequence, result) = done;
            _transferring.Remove(sequence);
            if (sequence.Abandoned || sequence.Finished)
            {
                End(sequence, null);
                continue;
            }

            var remote = sequence.Request.KvTransfer!.RemotePrefill!;
            _running.Add(sequence);
            if (result.IsSuccess)
            {
                Interlocked.Increment(ref _remotePrefills);
                EngineLog.RemotePrefillRead(_logger, sequence.Request.RequestId, sequence.Kv!.Blocks.Length - (sequence.Kv.ComputedTokens / _options.BlockSize),
                    result.Bytes, sequence.Kv.ComputedTokens, remote.AgentName, result.Elapsed.TotalMilliseconds);
                _pool.MarkComputed(sequence.Kv, remote.PromptTokens);
                KvTransferDone?.Invoke(new KvTransferRecord(result.Bytes, result.Elapsed, null));
                Emit(sequence, remote.FirstToken, logprobs: sequence.Request.Logprobs is null ? null : remote.FirstLogprobs);
            }
            else
            {
                Interlocked.Increment(ref _remotePrefillFallbacks);
                EngineLog.RemotePrefillFallback(_logger, sequence.Request.RequestId, remote.AgentName, result.Error.ToString(), result.Message);
                KvTransferDone?.Invoke(new KvTransferRecord(result.Bytes, result.Elapsed, FallbackReason(result.Error)));
            }
        }
    }

    /// <summary>Takes the sequence out of the engine, frees its blocks and closes its output (with an error if given).</summary>
    private void End(EngineSequence sequence, Exception? error)
    {
        if (sequence.Finished)
        {
            return;
        }

        sequence.Finished = true;
        if (sequence.Kv is { IsAllocated: true } kv)
        {
            _pool.Release(kv);
        }

        if (!sequence.RemotePrefillTried && sequence.Request.KvTransfer?.RemotePrefill is { } remote && _transfer is { } transfer)
        {
            // A decode that ends before reading its remote prefill (abandoned while waiting, failed, shut down):
            // the prefill worker's pin has no other reader, so release it now rather than at its timeout.
            sequence.RemotePrefillTried = true;
            _ = transfer.AbandonAsync(remote);
        }

        if (!_running.Remove(sequence))
        {
            _waiting.Remove(sequence);
        }

        sequence.Output.Writer.TryComplete(error);
    }

    private void PublishCounts()
    {
        Volatile.Write(ref _runningCount, _running.Count + _transferring.Count);
        Volatile.Write(ref _waitingCount, _waiting.Count);
        long pending = 0;
        foreach (var sequence in _running)
        {
            // One uncomputed token is a decode step, more is prefill (a prefill with one token left counts as decode).
            var remaining = sequence.Kv is { } kv ? kv.TokenCount - kv.ComputedTokens : 0;
            pending += remaining > 1 ? remaining : 0;
        }

        foreach (var sequence in _waiting)
        {
            pending += sequence.Tokens.Count;
        }

        Interlocked.Exchange(ref _pendingPrefillTokens, pending);
    }

    private static bool ContainsToken(IReadOnlyList<int> tokens, int token)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            if (tokens[i] == token)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>One sequence's tokens in the step: positions ComputedAfter − Count ..< ComputedAfter, the batch's tokens FirstToken on.</summary>
    private readonly record struct ScheduledChunk(EngineSequence Sequence, int ComputedAfter, int LogitsRow, int FirstToken, int Count);
}
