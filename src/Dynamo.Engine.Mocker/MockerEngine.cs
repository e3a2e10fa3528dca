using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
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
/// <para>
/// Disaggregated serving follows the real engine's contract (<see cref="EngineRequest.KvTransfer"/>): a prefill with
/// <see cref="KvTransferRequest.DoRemoteDecode"/> computes its prompt, pins the blocks and returns its first token
/// with <see cref="EngineOutput.KvTransfer"/>, finishing with length; a decode with
/// <see cref="KvTransferRequest.RemotePrefill"/> waits the modeled transfer time instead of prefilling, then streams
/// the prefill's first token and decodes on. Its tokens are the aggregated run's: they depend only on the context.
/// See <see cref="MockerKvTransfer"/> for the delay model and how pins are released without a transfer agent.
/// </para>
/// </remarks>
public sealed class MockerEngine : IEngine, IKvEventSource, IKvTransferTelemetry, IKvTransferPins
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
    private readonly MockerScheduler _scheduler;
    private readonly MockerKvTransfer _transfer;
    private readonly Task _loop;

    // Read by other threads.
    private int _runningCount;
    private int _waitingCount;
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
        _transfer = new MockerKvTransfer(options, _time, _logger, Wake, _shutdown.Token);
        _scheduler = new MockerScheduler(options, _pool, _tokens, _logger, static (s, output) => s.Write(output), static s => s.Output.Writer.TryComplete(), _transfer);
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

    /// <summary>Names this engine in the <see cref="RemoteKvBlocks"/> its prefills return (<c>mocker:PROCESS:N:WORKER</c>).</summary>
    public string KvTransferAgentName => _transfer.AgentName;

    /// <summary>Prefill blocks kept for decode workers right now.</summary>
    public int PinnedTransfers => _transfer.PinnedCount;

    /// <inheritdoc />
    public int PinnedBlocks => _transfer.PinnedBlocks;

    /// <inheritdoc />
    public long DeclinedPins => _transfer.DeclinedPins;

    /// <inheritdoc />
    public long RefusedTransferReads => _transfer.RefusedReads;

    /// <inheritdoc />
    public void ReleasePins(string requestId)
    {
        ArgumentNullException.ThrowIfNull(requestId);
        _transfer.RequestRelease(requestId);
    }

    /// <summary>Decode requests whose prompt KV came from a prefill worker, and those that fell back to computing it.</summary>
    public (long Remote, long Fallback) RemotePrefills => _transfer.RemotePrefills;

    /// <summary>KV bytes the modeled transfers moved into this engine (uncached prompt tokens × KvBytesPerToken).</summary>
    public long KvBytesTransferred => _transfer.BytesMoved;

    /// <summary>Raised on the loop thread when a decode starts waiting for its prompt's KV.</summary>
    /// <inheritdoc />
    public event Action<KvTransferRecord>? KvTransferDone
    {
        add => _transfer.KvTransferDone += value;
        remove => _transfer.KvTransferDone -= value;
    }

    internal event Action<MockerTransfer>? TransferStarted
    {
        add => _transfer.TransferStarted += value;
        remove => _transfer.TransferStarted -= value;
    }

    /// <summary>Raised on the loop thread when a step is scheduled, before its simulated time passes.</summary>
    internal event Action<MockerStep>? StepStarted;

    /// <summary>Raised on the loop thread after every pass of the loop (a step, or housekeeping before it idles).</summary>
    internal event Action? LoopIteration;

    /// <summary>Whether the loop is waiting for a wake-up (nothing it can schedule).</summary>
    internal bool IsIdle => _idle;

    /// <summary>Sequences preempted since start.</summary>
    internal long Preemptions => _scheduler.Preemptions;

    /// <inheritdoc />
    public EngineLoad GetLoad()
    {
        BlockPoolStats stats = _pool.GetStats();
        long prompt = _scheduler.PromptTokens;
        return new EngineLoad
        {
            RunningRequests = Volatile.Read(ref _runningCount),
            WaitingRequests = Volatile.Read(ref _waitingCount) + _submissions.Reader.Count,
            KvBlocksUsed = stats.UsedBlocks,
            KvBlocksTotal = stats.TotalBlocks,
            PrefixCacheHitRate = prompt == 0 ? 0 : (double)_scheduler.CachedPromptTokens / prompt,
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

            // A prefill's handoff that nobody took: its pin has no reader.
            while (reader.TryRead(out EngineOutput unread))
            {
                if (unread.KvTransfer is not null)
                {
                    _transfer.RequestRelease(request.RequestId);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _transfer.Dispose();
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

        if (request.Logprobs is not null && request.Constraint is not null)
        {
            // Constrained tokens are drawn among the allowed ones by a rule whose probabilities the mocker does not compute:
            // any number reported would be made up.
            throw Contracts.OpenAi.OpenAiException.BadRequest(
                "The mocker engine reports log-probabilities only for unconstrained output; send 'logprobs' without 'response_format' (or forced tool calls).",
                "logprobs", "unsupported_parameter");
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
                FinishTransfers();
                _transfer.ReleaseDone(_pool);
                TimeSpan duration = _scheduler.Schedule(out MockerStep step);
                PublishCounts();

                if (_scheduler.StepIsEmpty)
                {
                    await IdleAsync(ct).ConfigureAwait(false);
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

                _scheduler.CompleteStep();
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
            _scheduler.Enqueue(state);
        }
    }

    /// <summary>
    /// Waits for a wake-up, or until the next pin expires. Reports idle only once the expiry timer is armed, so a
    /// test that sees <see cref="IsIdle"/> may advance a fake clock past the deadline.
    /// </summary>
    private async Task IdleAsync(CancellationToken ct)
    {
        if (_transfer.NextPinExpiry() is not { } due)
        {
            _idle = true;
            LoopIteration?.Invoke();
            await _wake.Reader.WaitToReadAsync(ct).ConfigureAwait(false);
            _idle = false;
            return;
        }

        using var either = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task wake = _wake.Reader.WaitToReadAsync(either.Token).AsTask();
        Task expiry = Task.Delay(due, _time, either.Token);
        _idle = true;
        LoopIteration?.Invoke();
        await Task.WhenAny(wake, expiry).ConfigureAwait(false);
        _idle = false;
        await either.CancelAsync().ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();
    }

    private void FinishTransfers()
    {
        while (_transfer.TryTakeDone(out SequenceState state))
        {
            _scheduler.CompleteTransfer(state, arrived: _transfer.Finish(state) is null);
        }
    }

    private void DropAbandoned()
    {
        while (_abandoned.TryDequeue(out SequenceState? state))
        {
            _scheduler.Drop(state);
        }
    }

    private void PublishCounts()
    {
        Volatile.Write(ref _runningCount, _scheduler.RunningCount);
        Volatile.Write(ref _waitingCount, _scheduler.WaitingCount);
    }

    /// <summary>After the loop has stopped: frees every sequence and fails its stream.</summary>
    private void FailEverything(Exception error)
    {
        DrainSubmissions();
        _scheduler.FailEverything(s => s.Output.Writer.TryComplete(error));
        PublishCounts();
    }
}
