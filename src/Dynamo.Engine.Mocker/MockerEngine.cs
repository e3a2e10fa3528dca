using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;
using Dynamo.KvCache;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Engine.Mocker;

/// <summary>
/// A simulated engine: a real <see cref="BlockPool"/> and a real continuous-batching scheduler (chunked prefill,
/// prefix reuse, preemption), with step times from a <see cref="PerformanceModel"/> instead of a GPU and tokens
/// from a deterministic function of the context. Cheap enough to run hundreds in one process.
/// </summary>
/// <remarks>
/// One background loop does all scheduling. Each step: drop abandoned requests; give running sequences their
/// decode token or next prefill chunk (oldest first), preempting the youngest running sequence when a decode
/// token finds no free block; admit waiting sequences while batch slots, the token budget and KV blocks allow;
/// wait the simulated step time on the injected <see cref="TimeProvider"/>; then emit one token per sequence that
/// finished its prefill or decoded. A preempted sequence loses its blocks, goes back to the head of the queue and
/// later recomputes its prompt and generated tokens (mostly from the prefix cache); its output is unchanged.
/// </remarks>
public sealed class MockerEngine : IEngine, IKvEventSource
{
    private readonly MockerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly BlockPool _pool;
    private readonly TokenGenerator _tokens;
    private readonly Channel<SequenceState> _submissions = Channel.CreateUnbounded<SequenceState>();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly ConcurrentQueue<SequenceState> _abandoned = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly int _watermarkBlocks;
    private readonly Task _loop;

    // Loop-thread state.
    private readonly LinkedList<SequenceState> _waiting = new();
    private readonly List<SequenceState> _running = [];
    private readonly List<(SequenceState Sequence, int Chunk)> _stepPrefill = [];
    private readonly List<SequenceState> _stepDecode = [];

    // Read by other threads.
    private int _runningCount;
    private int _waitingCount;
    private long _promptTokens;
    private long _cachedPromptTokens;
    private long _preemptions;
    private int _disposed;
    private volatile bool _idle;
    private Exception? _fault;

    public MockerEngine(MockerOptions options, TimeProvider? timeProvider = null, IKvEventSink? kvEventSink = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _pool = new BlockPool(
            new BlockPoolOptions
            {
                BlockSize = options.BlockSize,
                TotalBlocks = options.TotalKvBlocks,
                WorkerId = options.WorkerId,
                Tier = StorageTier.Device,
                ReplayBufferSize = options.ReplayBufferSize,
            },
            kvEventSink);
        _tokens = new TokenGenerator(options.ModelName, options.VocabSize, options.EosTokenIds, options.EosProbability);
        _watermarkBlocks = (int)(options.TotalKvBlocks * options.KvWatermark);
        Info = new EngineInfo
        {
            ModelName = options.ModelName,
            EngineKind = "mocker",
            BlockSize = options.BlockSize,
            TotalKvBlocks = options.TotalKvBlocks,
            MaxContextLength = options.MaxContextLength,
            VocabSize = options.VocabSize,
            EosTokenIds = [.. options.EosTokenIds],
        };
        MockerLog.Started(_logger, options.ModelName, options.TotalKvBlocks, options.BlockSize, options.MaxNumSeqs, options.MaxNumBatchedTokens, options.SpeedupFactor, options.ZeroDelay);
        _loop = Task.Run(RunLoopAsync);
    }

    public EngineInfo Info { get; }

    /// <inheritdoc />
    public long LastEventId => _pool.LastEventId;

    /// <summary>Raised on the loop thread when a step is scheduled, before its simulated time passes.</summary>
    internal event Action<MockerStep>? StepStarted;

    /// <summary>Raised on the loop thread after every pass of the loop (a step, or housekeeping before it idles).</summary>
    internal event Action? LoopIteration;

    /// <summary>Whether the loop is waiting for a wake-up (nothing it can schedule).</summary>
    internal bool IsIdle => _idle;

    /// <summary>Sequences preempted since start.</summary>
    internal long Preemptions => Interlocked.Read(ref _preemptions);

    /// <inheritdoc />
    public EngineLoad GetLoad()
    {
        BlockPoolStats stats = _pool.GetStats();
        long prompt = Interlocked.Read(ref _promptTokens);
        return new EngineLoad
        {
            RunningRequests = Volatile.Read(ref _runningCount),
            WaitingRequests = Volatile.Read(ref _waitingCount) + _submissions.Reader.Count,
            KvBlocksUsed = stats.UsedBlocks,
            KvBlocksTotal = stats.TotalBlocks,
            PrefixCacheHitRate = prompt == 0 ? 0 : (double)Interlocked.Read(ref _cachedPromptTokens) / prompt,
        };
    }

    /// <summary>Counters of the KV pool (blocks, cache, hit statistics including re-admissions after preemption).</summary>
    public BlockPoolStats GetKvStats() => _pool.GetStats();

    /// <inheritdoc />
    public ReplayResult GetEvents(long fromEventId, long toEventId) => _pool.GetEvents(fromEventId, toEventId);

    /// <inheritdoc />
    public KvDump Dump() => _pool.Dump();

    /// <inheritdoc />
    /// <exception cref="ArgumentException">Empty prompt, prompt leaving no room under MaxContextLength, or max_tokens below 1.</exception>
    /// <exception cref="ObjectDisposedException">The engine is disposed.</exception>
    /// <exception cref="OperationCanceledException">Cancelled by the caller, or the engine shut down mid-request.</exception>
    public async IAsyncEnumerable<EngineOutput> GenerateAsync(EngineRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        cancellationToken.ThrowIfCancellationRequested();

        ulong? seed = request.Sampling.IsGreedy ? null : request.Sampling.Seed ?? (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue);
        var state = new SequenceState(request, _tokens.Hash(request.PromptTokens), seed);
        if (!_submissions.Writer.TryWrite(state))
        {
            throw _fault is { } fault
                ? new InvalidOperationException("The mocker engine's scheduler failed.", fault)
                : new ObjectDisposedException(nameof(MockerEngine));
        }

        Wake();
        ChannelReader<EngineOutput> reader = state.Output.Reader;
        try
        {
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (reader.TryRead(out EngineOutput output))
                {
                    if (state.OnTaken())
                    {
                        Wake();
                    }

                    yield return output;
                    if (output.Finish is not null)
                    {
                        yield break;
                    }
                }
            }
        }
        finally
        {
            if (!state.IsFinished && state.Abandon())
            {
                _abandoned.Enqueue(state);
                Wake();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _submissions.Writer.TryComplete();
        await _shutdown.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        FailEverything(new OperationCanceledException("The mocker engine shut down."));
        _shutdown.Dispose();
    }

    private void Validate(EngineRequest request)
    {
        if (request.PromptTokens is null || request.PromptTokens.Length == 0)
        {
            throw new ArgumentException("The prompt has no tokens.", nameof(request));
        }

        if (request.PromptTokens.Length >= _options.MaxContextLength)
        {
            throw new ArgumentException(
                $"The prompt has {request.PromptTokens.Length} tokens; the model's context is {_options.MaxContextLength}, which leaves no room to generate.",
                nameof(request));
        }

        if (request.MaxTokens < 1)
        {
            throw new ArgumentException($"max_tokens must be at least 1 (got {request.MaxTokens}).", nameof(request));
        }
    }

    private void Wake() => _wake.Writer.TryWrite(true);

    private async Task RunLoopAsync()
    {
        CancellationToken ct = _shutdown.Token;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                // Drain the wake signal before looking at the state: a wake after this point is kept for the idle wait.
                _wake.Reader.TryRead(out _);
                DrainSubmissions();
                DropAbandoned();
                TimeSpan duration = Schedule(out MockerStep step);
                PublishCounts();

                if (_stepPrefill.Count == 0 && _stepDecode.Count == 0)
                {
                    _idle = true;
                    LoopIteration?.Invoke();
                    await _wake.Reader.WaitToReadAsync(ct).ConfigureAwait(false);
                    _idle = false;
                    continue;
                }

                if (duration <= TimeSpan.Zero)
                {
                    // ZeroDelay (or a model that says zero): no timer, but let readers and submitters run.
                    StepStarted?.Invoke(step);
                    await Task.Yield();
                }
                else
                {
                    Task delay = Task.Delay(duration, _time, ct);
                    StepStarted?.Invoke(step);
                    await delay.ConfigureAwait(false);
                }

                CompleteStep();
                PublishCounts();
                LoopIteration?.Invoke();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Shutdown: DisposeAsync fails what is left.
        }
        catch (Exception ex)
        {
            MockerLog.LoopFailed(_logger, ex);
            _fault = ex;
            _submissions.Writer.TryComplete(ex);
            FailEverything(new InvalidOperationException("The mocker engine's scheduler failed.", ex));
        }
    }

    private void DrainSubmissions()
    {
        while (_submissions.Reader.TryRead(out SequenceState? state))
        {
            state.WaitingNode = _waiting.AddLast(state);
        }
    }

    private void DropAbandoned()
    {
        while (_abandoned.TryDequeue(out SequenceState? state))
        {
            if (state.IsFinished)
            {
                continue;
            }

            if (state.WaitingNode is { } node)
            {
                _waiting.Remove(node);
                state.WaitingNode = null;
            }

            if (state.IsRunning)
            {
                _running.Remove(state);
                state.IsRunning = false;
            }

            Finish(state, output: null);
        }
    }

    /// <summary>Plans the next step into <see cref="_stepPrefill"/> and <see cref="_stepDecode"/>; returns its simulated time.</summary>
    private TimeSpan Schedule(out MockerStep step)
    {
        _stepPrefill.Clear();
        _stepDecode.Clear();
        int budget = _options.MaxNumBatchedTokens;
        int limit = _options.OutputBufferSize;
        int prefillTokens = 0;
        long prefillAttention = 0;
        long decodeContext = 0;
        bool preempted = false;

        for (int i = 0; i < _running.Count && budget > 0; i++)
        {
            SequenceState s = _running[i];
            if (s.IsBackedUp(limit))
            {
                continue;
            }

            KvSequence kv = s.Kv!;
            if (kv.ComputedTokens < kv.TokenCount)
            {
                int chunk = Math.Min(kv.TokenCount - kv.ComputedTokens, budget);
                _stepPrefill.Add((s, chunk));
                budget -= chunk;
                prefillTokens += chunk;
                prefillAttention += (long)chunk * (kv.ComputedTokens + chunk);
                continue;
            }

            // Decode: the last sampled token needs a KV slot. When the pool is out, preempt the youngest running
            // sequence (never one already planned: those are older) until the token fits or this one is the victim.
            bool preemptedSelf = false;
            while (!_pool.TryAppendToken(kv, s.Tokens[^1]))
            {
                SequenceState victim = _running[^1];
                Preempt(victim);
                preempted = true;
                if (ReferenceEquals(victim, s))
                {
                    preemptedSelf = true;
                    break;
                }
            }

            if (preemptedSelf)
            {
                break;
            }

            _stepDecode.Add(s);
            budget--;
            decodeContext += kv.TokenCount;
        }

        // After a preemption the pool is tight: admitting now would only preempt again next step (vLLM does the same).
        while (!preempted && budget > 0 && _running.Count < _options.MaxNumSeqs && _waiting.First is { } head)
        {
            SequenceState s = head.Value;
            if (s.IsBackedUp(limit))
            {
                break;
            }

            s.Kv ??= _pool.CreateSequence(CollectionsMarshal.AsSpan(s.Tokens));
            int reserve = _running.Count == 0 ? 0 : _watermarkBlocks;
            if (!_pool.TryAllocate(s.Kv, reserve))
            {
                break;
            }

            _waiting.RemoveFirst();
            s.WaitingNode = null;
            s.IsRunning = true;
            _running.Add(s);
            if (s.CachedTokens < 0)
            {
                s.CachedTokens = s.Kv.CachedTokens;
                Interlocked.Add(ref _promptTokens, s.PromptLength);
                Interlocked.Add(ref _cachedPromptTokens, s.CachedTokens);
            }

            KvSequence kv = s.Kv;
            int chunk = Math.Min(kv.TokenCount - kv.ComputedTokens, budget);
            _stepPrefill.Add((s, chunk));
            budget -= chunk;
            prefillTokens += chunk;
            prefillAttention += (long)chunk * (kv.ComputedTokens + chunk);
        }

        double ms = _options.Performance.StepMs(prefillTokens, prefillAttention, _stepDecode.Count, decodeContext) / _options.SpeedupFactor;
        TimeSpan duration = _options.ZeroDelay ? TimeSpan.Zero : TimeSpan.FromMilliseconds(ms);
        step = new MockerStep(_stepPrefill.Count, prefillTokens, prefillAttention, _stepDecode.Count, decodeContext, duration);
        return duration;
    }

    private void Preempt(SequenceState victim)
    {
        _running.RemoveAt(_running.Count - 1);
        victim.IsRunning = false;
        _pool.Release(victim.Kv!);

        // Recreated from all its tokens at readmission, so the pending sampled token gets its KV computed too.
        victim.Kv = null;
        victim.WaitingNode = _waiting.AddFirst(victim);
        Interlocked.Increment(ref _preemptions);
        MockerLog.Preempted(_logger, victim.Request.RequestId, victim.Tokens.Count);
    }

    private void CompleteStep()
    {
        foreach ((SequenceState s, int chunk) in _stepPrefill)
        {
            KvSequence kv = s.Kv!;
            _pool.MarkComputed(kv, kv.ComputedTokens + chunk);
            if (kv.ComputedTokens == kv.TokenCount)
            {
                EmitNextToken(s);
            }
        }

        foreach (SequenceState s in _stepDecode)
        {
            _pool.MarkComputed(s.Kv!, s.Kv!.TokenCount);
            EmitNextToken(s);
        }

        _running.RemoveAll(static s => s.IsFinished);
        _stepPrefill.Clear();
        _stepDecode.Clear();
    }

    private void EmitNextToken(SequenceState s)
    {
        int token = _tokens.Next(s.ContextHash, s.Seed);
        s.Tokens.Add(token);
        s.ContextHash = TokenGenerator.Extend(s.ContextHash, token);

        EngineRequest request = s.Request;
        FinishReason? finish = null;
        if ((!request.IgnoreEos && _tokens.IsEos(token)) || request.StopTokenIds.Contains(token))
        {
            finish = FinishReason.Stop;
        }
        else if (s.Generated >= request.MaxTokens || s.Tokens.Count >= _options.MaxContextLength)
        {
            finish = FinishReason.Length;
        }

        var output = new EngineOutput(token, finish, s.CachedTokens);
        if (finish is null)
        {
            s.Write(output);
        }
        else
        {
            s.IsRunning = false;
            Finish(s, output);
        }
    }

    /// <summary>Frees the sequence's blocks and closes its stream, with a last output or without (abandoned).</summary>
    private void Finish(SequenceState s, EngineOutput? output)
    {
        if (s.Kv is { } kv)
        {
            _pool.Release(kv);
            s.Kv = null;
        }

        s.MarkFinished();
        if (output is { } last)
        {
            s.Write(last);
        }

        s.Output.Writer.TryComplete();
    }

    private void PublishCounts()
    {
        Volatile.Write(ref _runningCount, _running.Count);
        Volatile.Write(ref _waitingCount, _waiting.Count);
    }

    /// <summary>After the loop has stopped: frees every sequence and fails its stream.</summary>
    private void FailEverything(Exception error)
    {
        DrainSubmissions();
        foreach (SequenceState s in _running.Concat(_waiting))
        {
            if (s.Kv is { } kv)
            {
                _pool.Release(kv);
                s.Kv = null;
            }

            s.MarkFinished();
            s.Output.Writer.TryComplete(error);
        }

        _running.Clear();
        _waiting.Clear();
        PublishCounts();
    }
}
