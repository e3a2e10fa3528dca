using System.Runtime.InteropServices;
using Dynamo.Contracts.Engine;
using Dynamo.KvCache;
using Microsoft.Extensions.Logging;

namespace Dynamo.Engine.Mocker;

/// <summary>
/// The mocker's continuous-batching scheduler over a real <see cref="BlockPool"/>, with no clock and no threads:
/// <see cref="Schedule"/> plans a step and says how long it takes, <see cref="CompleteStep"/> applies it. The
/// <see cref="MockerEngine"/> drives it from its loop on a <see cref="TimeProvider"/>; <see cref="MockerStepper"/>
/// lets a discrete-event simulation drive it in virtual time. One thread at a time.
/// </summary>
internal sealed class MockerScheduler
{
    private readonly MockerOptions _options;
    private readonly BlockPool _pool;
    private readonly TokenGenerator _tokens;
    private readonly ILogger _logger;
    private readonly int _watermarkBlocks;
    private readonly Action<SequenceState, EngineOutput> _emit;
    private readonly Action<SequenceState> _close;

    private readonly LinkedList<SequenceState> _waiting = new();
    private readonly List<SequenceState> _running = [];
    private readonly List<(SequenceState Sequence, int Chunk)> _stepPrefill = [];
    private readonly List<SequenceState> _stepDecode = [];

    private long _promptTokens;
    private long _cachedPromptTokens;
    private long _preemptions;

    /// <param name="emit">Hands a token to the request's reader (the last one after the sequence is marked finished).</param>
    /// <param name="close">Ends the request's stream after its last output (or with none, when abandoned).</param>
    public MockerScheduler(MockerOptions options, BlockPool pool, TokenGenerator tokens, ILogger logger, Action<SequenceState, EngineOutput> emit, Action<SequenceState> close)
    {
        _options = options;
        _pool = pool;
        _tokens = tokens;
        _logger = logger;
        _emit = emit;
        _close = close;
        _watermarkBlocks = (int)(options.TotalKvBlocks * options.KvWatermark);
    }

    public int RunningCount => _running.Count;

    public int WaitingCount => _waiting.Count;

    public long PromptTokens => Interlocked.Read(ref _promptTokens);

    public long CachedPromptTokens => Interlocked.Read(ref _cachedPromptTokens);

    public long Preemptions => Interlocked.Read(ref _preemptions);

    /// <summary>Whether the last planned step has anything in it.</summary>
    public bool StepIsEmpty => _stepPrefill.Count == 0 && _stepDecode.Count == 0;

    public void Enqueue(SequenceState state) => state.WaitingNode = _waiting.AddLast(state);

    /// <summary>The reader went away: take the sequence out wherever it is and free its blocks.</summary>
    public void Drop(SequenceState state)
    {
        if (state.IsFinished)
        {
            return;
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

    /// <summary>Plans the next step; returns its simulated time (after the speed-up factor; zero under ZeroDelay).</summary>
    public TimeSpan Schedule(out MockerStep step)
    {
        _stepPrefill.Clear();
        _stepDecode.Clear();
        int budget = _options.MaxNumBatchedTokens;
        int limit = _options.OutputBufferSize;
        int prefillTokens = 0;
        long prefillAttention = 0;
        long decodeContext = 0;
        bool preempted = false;
        bool admittedRemote = false;

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
            bool firstAdmission = s.CachedTokens < 0;
            if (firstAdmission)
            {
                if (s.OracleCachedTokens > s.Kv.ComputedTokens)
                {
                    // Oracle studies: the prefix is taken as cached whatever this pool holds (an infinite cache that every worker shares).
                    _pool.MarkComputed(s.Kv, Math.Min(s.OracleCachedTokens, s.Kv.TokenCount - 1));
                }

                s.CachedTokens = s.Kv.ComputedTokens;
                Interlocked.Add(ref _promptTokens, s.PromptLength);
                Interlocked.Add(ref _cachedPromptTokens, s.CachedTokens);
            }

            KvSequence kv = s.Kv;
            if (firstAdmission && s.PrefilledRemotely)
            {
                // Disaggregated decode: the prompt's KV came from a prefill worker, which also sampled the first
                // token; take it as computed and start decoding next pass, emitting nothing now.
                _pool.MarkComputed(kv, kv.TokenCount);
                AppendSilently(s);
                admittedRemote = true;
                continue;
            }

            int chunk = Math.Min(kv.TokenCount - kv.ComputedTokens, budget);
            _stepPrefill.Add((s, chunk));
            budget -= chunk;
            prefillTokens += chunk;
            prefillAttention += (long)chunk * (kv.ComputedTokens + chunk);
        }

        if (admittedRemote && StepIsEmpty)
        {
            // Only remote-prefilled sequences came in: plan again so they decode in this step.
            return Schedule(out step);
        }

        double ms = _options.Performance.StepMs(prefillTokens, prefillAttention, _stepDecode.Count, decodeContext) / _options.SpeedupFactor;
        TimeSpan duration = _options.ZeroDelay ? TimeSpan.Zero : TimeSpan.FromMilliseconds(ms);
        step = new MockerStep(_stepPrefill.Count, prefillTokens, prefillAttention, _stepDecode.Count, decodeContext, duration);
        return duration;
    }

    /// <summary>Applies the planned step: computed KV, one token per sequence that finished its prefill or decoded.</summary>
    public void CompleteStep()
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

    /// <summary>Frees every sequence, running and waiting, and hands each to <paramref name="fail"/>.</summary>
    public void FailEverything(Action<SequenceState> fail)
    {
        foreach (SequenceState s in _running.Concat(_waiting))
        {
            if (s.Kv is { } kv)
            {
                _pool.Release(kv);
                s.Kv = null;
            }

            s.MarkFinished();
            fail(s);
        }

        _running.Clear();
        _waiting.Clear();
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

    private void AppendSilently(SequenceState s)
    {
        int token = _tokens.Next(s.ContextHash, s.Seed);
        s.Tokens.Add(token);
        s.ContextHash = TokenGenerator.Extend(s.ContextHash, token);
        if (s.Generated >= s.Request.MaxTokens)
        {
            _running.Remove(s);
            s.IsRunning = false;
            Finish(s, output: null);
        }
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
            _emit(s, output);
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
            _emit(s, last);
        }

        _close(s);
    }
}
