using Dynamo.Router.Load;

namespace Dynamo.Router.Kv;

/// <summary>
/// The predicted cost of sending a request to one worker (<c>Dynamo:Router:Cost: predicted</c>), in milliseconds:
/// the request's time to first token there, plus, weighted by <see cref="RouterOptions.DecodeImpactWeight"/>, what it
/// does to decoding there: the stall its prefill puts on the running decodes, the time it adds to every decode step
/// of the requests it will decode beside, and its own decode time among them.
/// </summary>
/// <remarks>
/// The worker is modelled as the engines schedule (vLLM, SGLang, our engine and the mocker): each step gives every
/// running decode one token of a budget of <see cref="RouterTiming.MaxBatchedTokens"/>, and the rest of the budget
/// goes to prompt chunks in arrival order. So the request waits for the uncached prompt tokens routed there before it
/// (the router's own in-flight accounting, <see cref="ActiveLoad.PrefillTokens"/>), then its own uncached tokens:
/// <code>
/// P       = queued prefill tokens + own uncached tokens
/// steps   = ⌈P / max(1, budget − decoding)⌉
/// TTFT    = steps · (step base + per-sequence · decoding + per-KV-token · decode context)
///         + per-token · P + attention · (own · (cached + own / 2) + queued² / (2 · queued requests))
/// decode  = decoding · per-token · own                                 (running decodes stalled by its prefill)
///         + E · active · (per-sequence + per-KV-token · prompt)        (its E decode steps slow the others' steps)
///         + E · (per-sequence · active + per-KV-token · active context) (the others slow its own steps)
/// cost    = TTFT + DecodeImpactWeight · decode
/// </code>
/// E is the request's expected output length: its <c>nvext.expected_output_tokens</c> when it sent one, else
/// <see cref="RouterOptions.ExpectedOutputTokens"/>. A holder of a
/// shared prefix wins while its queue and batch cost less than the prefill its cache saves, and loses once they cost
/// more: hot prefixes spread to more holders on their own (the prefix is copied by prefilling it elsewhere), where
/// the block cost (<see cref="KvCost"/>) weighs every running request's whole context as if it were prompt to prefill.
/// </remarks>
public readonly struct TtftPredictor(RouterTiming timing, double decodeImpactWeight, int expectedOutputTokens)
{
    private readonly double _base = timing.StepBaseMs;
    private readonly double _perToken = timing.PrefillPerTokenMs;
    private readonly double _attention = timing.PrefillAttentionMs;
    private readonly double _perSequence = timing.DecodePerSequenceMs;
    private readonly double _perKvToken = timing.DecodePerKvTokenMs;
    private readonly int _budget = Math.Max(1, timing.MaxBatchedTokens);
    private readonly double _impactWeight = decodeImpactWeight;
    private readonly double _expectedOutput = Math.Max(0, expectedOutputTokens);

    /// <summary>The predicted time to first token, ms, of a <paramref name="promptTokens"/>-token prompt whose first <paramref name="overlapBlocks"/> blocks the worker holds.</summary>
    public double Ttft(int overlapBlocks, ActiveLoad load, int promptTokens, int blockSize)
    {
        Terms(overlapBlocks, load, promptTokens, blockSize, _expectedOutput, out var ttft, out _);
        return ttft;
    }

    /// <summary>The routing cost: <see cref="Ttft"/> plus the weighted decode term.</summary>
    public double Cost(int overlapBlocks, ActiveLoad load, int promptTokens, int blockSize)
    {
        Terms(overlapBlocks, load, promptTokens, blockSize, _expectedOutput, out var ttft, out var decode);
        return ttft + (_impactWeight * decode);
    }

    /// <summary>
    /// As <see cref="Cost(int, ActiveLoad, int, int)"/>, for a request that said how long its output will be
    /// (<c>nvext.expected_output_tokens</c>): <paramref name="expectedOutputTokens"/> is its E instead of the configured one.
    /// </summary>
    public double Cost(int overlapBlocks, ActiveLoad load, int promptTokens, int blockSize, int expectedOutputTokens)
    {
        Terms(overlapBlocks, load, promptTokens, blockSize, Math.Max(0, expectedOutputTokens), out var ttft, out var decode);
        return ttft + (_impactWeight * decode);
    }

    /// <summary>The decode term of <see cref="Cost(int, ActiveLoad, int, int)"/>, ms, before its weight.</summary>
    public double DecodeImpact(int overlapBlocks, ActiveLoad load, int promptTokens, int blockSize)
    {
        Terms(overlapBlocks, load, promptTokens, blockSize, _expectedOutput, out _, out var decode);
        return decode;
    }

    /// <summary>The decode term for a request expecting <paramref name="expectedOutputTokens"/> output tokens, ms, before its weight.</summary>
    public double DecodeImpact(int overlapBlocks, ActiveLoad load, int promptTokens, int blockSize, int expectedOutputTokens)
    {
        Terms(overlapBlocks, load, promptTokens, blockSize, Math.Max(0, expectedOutputTokens), out _, out var decode);
        return decode;
    }

    private void Terms(int overlapBlocks, ActiveLoad load, int promptTokens, int blockSize, double expectedOutput, out double ttft, out double decode)
    {
        var size = Math.Max(1, blockSize);
        // The last prompt token is always computed (its logits give the first token), as the engines do.
        var cached = Math.Clamp((long)overlapBlocks * size, 0, Math.Max(0, promptTokens - 1));
        var own = promptTokens - cached;
        var active = Math.Max(0, load.Requests);
        var decoding = Math.Max(0, active - load.Prefilling);
        var activeContext = (double)Math.Max(0, load.Blocks) * size;
        // Blocks counts every active request's prompt; the decoding ones' share is their context.
        var decodingContext = active > 0 ? activeContext * decoding / active : 0;
        var queued = (double)Math.Max(0, load.PrefillTokens);
        var prefill = queued + own;
        // The queue's own attention, taking its prompts as equally long and uncached: Σ L²/2 = queued · (queued / count) / 2.
        var queuedAttention = queued * queued / Math.Max(1, load.Prefilling) / 2.0;
        var perStep = Math.Max(1, _budget - decoding);
        var steps = Math.Max(1, Math.Ceiling(prefill / perStep));
        ttft = (steps * (_base + (_perSequence * decoding) + (_perKvToken * decodingContext)))
            + (_perToken * prefill)
            + (_attention * ((own * (cached + (own / 2.0))) + queuedAttention));
        decode = (decoding * _perToken * own)
            + (expectedOutput * active * (_perSequence + (_perKvToken * promptTokens)))
            + (expectedOutput * ((_perSequence * active) + (_perKvToken * activeContext)));
    }
}
