using Dynamo.Contracts.Engine;
using Dynamo.Contracts.KvEvents;
using Dynamo.KvCache;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Engine.Mocker;

/// <summary>
/// The mocker's scheduler and block pool, driven step by step by a discrete-event simulation instead of a clock:
/// <see cref="TryBeginStep"/> plans a step and says how long it would take; the caller advances its virtual time
/// by that much and calls <see cref="CompleteStep"/>, which hands back the tokens the step produced. The same
/// scheduling code as <see cref="MockerEngine"/> (chunked prefill, prefix reuse, preemption); no threads, no timers.
/// Not thread-safe: one simulation thread owns it.
/// </summary>
public sealed class MockerStepper
{
    private readonly BlockPool _pool;
    private readonly TokenGenerator _tokens;
    private readonly MockerScheduler _scheduler;
    private readonly List<StepOutput> _pending = [];
    private bool _inStep;

    public MockerStepper(MockerOptions options, IKvEventSink? kvEventSink = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
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
        _scheduler = new MockerScheduler(
            options,
            _pool,
            _tokens,
            logger ?? NullLogger.Instance,
            (s, output) => _pending.Add(new StepOutput(s.Request.RequestId, output, s.Tag)),
            static _ => { });
    }

    public MockerOptions Options { get; }

    /// <summary>Sequences running or waiting.</summary>
    public int ActiveSequences => _scheduler.RunningCount + _scheduler.WaitingCount;

    public int RunningSequences => _scheduler.RunningCount;

    public int WaitingSequences => _scheduler.WaitingCount;

    public long Preemptions => _scheduler.Preemptions;

    /// <summary>
    /// Queues a request. With <paramref name="prefilledRemotely"/> the prompt's KV is taken as transferred from a
    /// prefill worker that also produced the first token: the request decodes its remaining max_tokens − 1 tokens
    /// here without prefilling. <paramref name="tag"/> comes back with each output. <paramref name="oracleCachedTokens"/>
    /// leading prompt tokens are taken as cached whatever the pool holds (an oracle's infinite shared cache).
    /// </summary>
    public void Submit(EngineRequest request, bool prefilledRemotely = false, object? tag = null, int oracleCachedTokens = 0)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.PromptTokens.Length == 0 || request.PromptTokens.Length >= Options.MaxContextLength || request.MaxTokens < 1)
        {
            throw new ArgumentException(
                $"Request {request.RequestId}: prompt of {request.PromptTokens.Length} tokens and max_tokens {request.MaxTokens} do not fit a context of {Options.MaxContextLength}.",
                nameof(request));
        }

        var state = new SequenceState(request, _tokens.Hash(request.PromptTokens), request.Sampling.IsGreedy ? null : request.Sampling.Seed ?? 0)
        {
            PrefilledRemotely = prefilledRemotely,
            Tag = tag,
            OracleCachedTokens = oracleCachedTokens,
        };
        _scheduler.Enqueue(state);
    }

    /// <summary>Plans the next step; false when there is nothing to run (the worker is idle until a submission).</summary>
    public bool TryBeginStep(out MockerStep step)
    {
        if (_inStep)
        {
            throw new InvalidOperationException("CompleteStep must follow TryBeginStep.");
        }

        _scheduler.Schedule(out step);
        _inStep = !_scheduler.StepIsEmpty;
        return _inStep;
    }

    /// <summary>Applies the planned step and appends the tokens it produced (one per sequence that got one) to <paramref name="outputs"/>.</summary>
    public void CompleteStep(ICollection<StepOutput> outputs)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        if (!_inStep)
        {
            throw new InvalidOperationException("No step was begun.");
        }

        _inStep = false;
        _scheduler.CompleteStep();
        foreach (StepOutput output in _pending)
        {
            outputs.Add(output);
        }

        _pending.Clear();
    }

    /// <summary>Leading blocks of <paramref name="seqHashes"/> in this worker's prefix cache.</summary>
    public int MatchPrefix(ReadOnlySpan<ulong> seqHashes) => _pool.MatchPrefix(seqHashes);

    public BlockPoolStats GetKvStats() => _pool.GetStats();

    public EngineLoad GetLoad()
    {
        BlockPoolStats stats = _pool.GetStats();
        long prompt = _scheduler.PromptTokens;
        return new EngineLoad
        {
            RunningRequests = _scheduler.RunningCount,
            WaitingRequests = _scheduler.WaitingCount,
            KvBlocksUsed = stats.UsedBlocks,
            KvBlocksTotal = stats.TotalBlocks,
            PrefixCacheHitRate = prompt == 0 ? 0 : (double)_scheduler.CachedPromptTokens / prompt,
        };
    }
}
