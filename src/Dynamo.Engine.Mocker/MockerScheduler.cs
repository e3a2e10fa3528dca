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
/// <remarks>
/// With a <see cref="MockerKvTransfer"/> (the live engine) it also serves disaggregated requests: a prefill for a
/// remote decode pins its prompt's blocks and finishes on its first token; a decode whose prompt was prefilled
/// elsewhere holds its blocks and a batch slot while its transfer time passes (<see cref="CompleteTransfer"/>),
/// then decodes from the prefill's first token.
/// </remarks>
internal sealed class MockerScheduler
{
    private readonly MockerOptions _options;
    private readonly BlockPool _pool;
    private readonly TokenGenerator _tokens;
    private ulong[]? _mask;
    private readonly ILogger _logger;
    private readonly int _watermarkBlocks;
    private readonly Action<SequenceState, EngineOutput> _emit;
    private readonly Action<SequenceState> _close;
    private readonly MockerKvTransfer? _transfer;

    private readonly LinkedList<SequenceState> _waiting = new();
    private readonly List<SequenceState> _running = [];
    private readonly List<SequenceState> _transferring = [];
    private readonly List<(SequenceState Sequence, int Chunk)> _stepPrefill = [];
    private readonly List<SequenceState> _stepDecode = [];

    private long _promptTokens;
    private long _cachedPromptTokens;
    private long _preemptions;

    /// <param name="emit">Hands a token to the request's reader (the last one after the sequence is marked finished).</param>
    /// <param name="close">Ends the request's stream after its last output (or with none, when abandoned).</param>
    /// <param name="transfer">Honours <see cref="EngineRequest.KvTransfer"/>; null (the stepper) ignores it.</param>
    public MockerScheduler(MockerOptions options, BlockPool pool, TokenGenerator tokens, ILogger logger, Action<SequenceState, EngineOutput> emit, Action<SequenceState> close,
        MockerKvTransfer? transfer = null)
    {
        _options = options;
        _pool = pool;
        _tokens = tokens;
        _logger = logger;
        _emit = emit;
        _close = close;
        _transfer = transfer;
        _watermarkBlocks = (int)(options.TotalKvBlocks * options.KvWatermark);
    }

    /// <summary>Sequences holding a batch slot: running, or waiting for their prompt's KV from a prefill worker.</summary>
    public int RunningCount => _running.Count + _transferring.Count;

    public int WaitingCount => _waiting.Count;

    public long PromptTokens => Interlocked.Read(ref _promptTokens);

    public long CachedPromptTokens => Interlocked.Read(ref _cachedPromptTokens);

    public long Preemptions => Interlocked.Read(ref _preemptions);

    /// <summary>Whether the last planned step has anything in it.</summary>
    public bool StepIsEmpty => _stepPrefill.Count == 0 && _stepDecode.Count == 0;

    /// <summary>
    /// Queues a new sequence by <see cref="EngineRequest.Priority"/>, then arrival: behind every waiting sequence of its
    /// priority or higher (a preempted sequence, put back at the front, stays ahead of all but higher priorities).
    /// </summary>
    public void Enqueue(SequenceState state)
    {
        int priority = state.Request.Priority;
        LinkedListNode<SequenceState>? after = _waiting.Last;
        while (after is not null && after.Value.Request.Priority < priority)
        {
            after = after.Previous;
        }

        state.WaitingNode = after is null ? _waiting.AddFirst(state) : _waiting.AddAfter(after, state);
    }

    /// <summary>The reader went away: take the sequence out wherever it is and free its blocks.</summary>
    public void Drop(SequenceState state)
    {
        if (state.IsFinished)
        {
            return;
        }

        if (state.CachedTokens < 0 && state.Request.KvTransfer?.RemotePrefill is { } remote)
        {
            // A decode that leaves before its turn never reads: the prefill's pin goes now, not at its timeout.
            _transfer?.Abandon(remote);
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

        // Its transfer still ends (and releases the prefill's pin); CompleteTransfer then finds it finished.
        _transferring.Remove(state);
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
        while (!preempted && budget > 0 && _running.Count + _transferring.Count < _options.MaxNumSeqs && _waiting.First is { } head)
        {
            SequenceState s = head.Value;
            if (s.IsBackedUp(limit))
            {
                break;
            }

            s.Kv ??= _pool.CreateSequence(CollectionsMarshal.AsSpan(s.Tokens));
            int reserve = _running.Count == 0 ? 0 : _watermarkBlocks;

            // As the real engine: a request scoring its prompt computes it whole (no cached prefix, no remote prefill).
            bool scoresPrompt = s.Request.PromptLogprobs is not null && s.Generated == 0;
            if (!_pool.TryAllocate(s.Kv, reserve, matchPrefix: !scoresPrompt))
            {
                break;
            }

            _waiting.RemoveFirst();
            s.WaitingNode = null;
            bool firstAdmission = s.CachedTokens < 0;
            if (firstAdmission)
            {
                if (s.OracleCachedTokens > s.Kv.ComputedTokens && !scoresPrompt)
                {
                    // Oracle studies: the prefix is taken as cached whatever this pool holds (an infinite cache that every worker shares).
                    _pool.MarkComputed(s.Kv, Math.Min(s.OracleCachedTokens, s.Kv.TokenCount - 1));
                }

                s.CachedTokens = s.Kv.ComputedTokens;
                Interlocked.Add(ref _promptTokens, s.PromptLength);
                Interlocked.Add(ref _cachedPromptTokens, s.CachedTokens);
            }

            if (firstAdmission && !scoresPrompt && _transfer is { } transfer && s.Request.KvTransfer?.RemotePrefill is { } remote && transfer.TryBegin(s, remote))
            {
                // Live disaggregated decode: the blocks are held while the prompt's KV "moves"; no step until it has.
                _transferring.Add(s);
                continue;
            }

            s.IsRunning = true;
            _running.Add(s);
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

    /// <summary>
    /// A decode's transfer time has passed: with the prompt's KV (<paramref name="arrived"/>) it is taken as computed,
    /// registered in the prefix cache and the prefill's first token emitted; without, the prompt is computed here.
    /// </summary>
    public void CompleteTransfer(SequenceState s, bool arrived)
    {
        if (!_transferring.Remove(s) || s.IsFinished)
        {
            return;
        }

        s.IsRunning = true;
        _running.Add(s);
        if (arrived)
        {
            KvSequence kv = s.Kv!;
            _pool.MarkComputed(kv, kv.TokenCount);
            var remote = s.Request.KvTransfer!.RemotePrefill!;
            Emit(s, remote.FirstToken, s.Request.Logprobs is { } top ? remote.FirstLogprobs ?? _tokens.Logprobs(remote.FirstToken, top) : null);
            if (s.IsFinished)
            {
                _running.Remove(s);
            }
        }
    }

    /// <summary>Frees every sequence, running, transferring and waiting, and hands each to <paramref name="fail"/>.</summary>
    public void FailEverything(Action<SequenceState> fail)
    {
        foreach (SequenceState s in _running.Concat(_transferring).Concat(_waiting))
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
        _transferring.Clear();
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
        int token = NextToken(s);
        s.Request.Constraint?.TryAccept(token);
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
        var token = NextToken(s);
        Emit(s, token, s.Request.Logprobs is { } top ? _tokens.Logprobs(token, top) : null);
    }

    private int NextToken(SequenceState s) => s.Request.Constraint is { } constraint
        ? _tokens.Next(s.ContextHash, s.Seed, constraint, _mask ??= new ulong[_tokens.MaskWords])
        : _tokens.Next(s.ContextHash, s.Seed);

    /// <summary>Streams a token the sequence produced (sampled here, or by a remote prefill) and finishes it when done.</summary>
    private void Emit(SequenceState s, int token, TokenLogprobs? logprobs)
    {
        s.Tokens.Add(token);
        s.ContextHash = TokenGenerator.Extend(s.ContextHash, token);

        EngineRequest request = s.Request;
        FinishReason? finish = null;
        if ((!request.IgnoreEos && _tokens.IsEos(token)) || request.StopTokenIds.Contains(token))
        {
            finish = FinishReason.Stop;
        }
        else if (request.Constraint is { } constraint && (!constraint.TryAccept(token) || constraint.IsComplete))
        {
            // Structured output complete: nothing may follow.
            finish = FinishReason.Stop;
        }
        else if (s.Generated >= request.MaxTokens || s.Tokens.Count >= _options.MaxContextLength)
        {
            finish = FinishReason.Length;
        }

        RemoteKvBlocks? handoff = null;
        var declined = false;
        if (finish != FinishReason.Stop && s.Generated == 1 && request.KvTransfer?.DoRemoteDecode == true && _transfer is { } transfer && s.Kv is { } kv)
        {
            // Prefill for a remote decode (the real engine's contract): the prompt's KV is complete; keep its blocks
            // for the decode worker instead of freeing them (Finish leaves them alone) and end here, unless pins
            // hold their share of the pool already (the decode worker then computes the prompt).
            if (transfer.TryReserve(kv.Blocks.Length, _pool.TotalBlocks))
            {
                handoff = transfer.Pin(request.RequestId, kv, request.PromptTokens, token) with { FirstLogprobs = logprobs };
                s.Kv = null;
            }
            else
            {
                declined = true;
            }

            finish = FinishReason.Length;
        }

        var output = new EngineOutput(token, finish, s.CachedTokens)
        {
            KvTransfer = handoff, KvTransferDeclined = declined, Logprobs = logprobs,
            PromptLogprobs = s.Generated == 1 && request.PromptLogprobs is { } top ? _tokens.PromptLogprobs(request.PromptTokens, top) : null,
        };
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
