namespace Dynamo.Engine.Mocker;

/// <summary>
/// How long the mocker pretends one batch step takes. All parameters are milliseconds (per unit named).
/// <list type="bullet">
/// <item>prefill: <c>PrefillBaseMs + PrefillPerTokenMs·new_tokens + PrefillQuadraticMs·new_tokens·context_tokens</c>
/// (the last term is attention: each new token attends to the whole context up to it);</item>
/// <item>decode: <c>DecodeBaseMs + DecodePerSeqMs·batch_size + DecodePerKvTokenMs·total_context_tokens</c>.</item>
/// </list>
/// A step with several prefill chunks sums their token terms; a step that carries both prefill chunks and decode
/// tokens pays one base (the prefill's): the weights are read once per step either way.
/// </summary>
/// <remarks>
/// Defaults approximate Llama-3-8B in bf16 on one H100 SXM (989 dense TFLOPS, 3.35 TB/s):
/// <list type="bullet">
/// <item>a step reads the 16 GB of weights: ≈ 5 ms, the prefill base;</item>
/// <item>prefill compute is 2 × 8e9 FLOP per token at ≈ 50% of peak: 0.03 ms per token;</item>
/// <item>attention costs ≈ 4 × 32 layers × 4096 = 0.5 MFLOP per (query, key) pair at ≈ 50% of peak,
/// so ≈ 1e-6 ms per new-token × context-token;</item>
/// <item>decode at small batch measures ≈ 10 ms per step in vLLM (weights plus launch, sampling and scheduling);
/// each sequence adds ≈ 0.03 ms of matmul and sampling;</item>
/// <item>each context token holds 128 KiB of KV (32 layers × 2 × 8 KV heads × 128 × 2 bytes), read at
/// ≈ 2.6 TB/s: 5e-5 ms per token per step.</item>
/// </list>
/// So a 1k-token prompt has TTFT ≈ 36 ms, a lone sequence decodes at ITL ≈ 10 ms, and 64 sequences of 2k
/// context at ≈ 18 ms. A later profile (roofline or measured) can replace these numbers.
/// </remarks>
public sealed class PerformanceModel
{
    /// <summary>Fixed cost of a step that prefills anything, ms. Default 5.</summary>
    public double PrefillBaseMs { get; set; } = 5.0;

    /// <summary>Cost per prefilled token, ms. Default 0.03.</summary>
    public double PrefillPerTokenMs { get; set; } = 0.03;

    /// <summary>Cost per (new token × context token) of attention, ms. Default 1e-6.</summary>
    public double PrefillQuadraticMs { get; set; } = 1e-6;

    /// <summary>Fixed cost of a decode-only step, ms. Default 10.</summary>
    public double DecodeBaseMs { get; set; } = 10.0;

    /// <summary>Cost per sequence in the decode batch, ms. Default 0.03.</summary>
    public double DecodePerSeqMs { get; set; } = 0.03;

    /// <summary>Cost per context token attended by the decode batch, ms. Default 5e-5.</summary>
    public double DecodePerKvTokenMs { get; set; } = 5e-5;

    /// <summary>
    /// Milliseconds for one step: <paramref name="prefillTokens"/> new prompt tokens in all prefill chunks,
    /// <paramref name="prefillAttention"/> the sum over chunks of new tokens × context tokens at the chunk's end,
    /// <paramref name="decodeSequences"/> sequences decoding one token each over <paramref name="decodeContextTokens"/>
    /// context tokens in all.
    /// </summary>
    public double StepMs(int prefillTokens, long prefillAttention, int decodeSequences, long decodeContextTokens)
    {
        double ms = 0;
        if (prefillTokens > 0)
        {
            ms += PrefillBaseMs + (PrefillPerTokenMs * prefillTokens) + (PrefillQuadraticMs * prefillAttention);
        }

        if (decodeSequences > 0)
        {
            ms += (prefillTokens > 0 ? 0 : DecodeBaseMs) + (DecodePerSeqMs * decodeSequences) + (DecodePerKvTokenMs * decodeContextTokens);
        }

        return ms;
    }

    /// <summary>Milliseconds to prefill one chunk of <paramref name="newTokens"/> ending at <paramref name="contextTokens"/> context.</summary>
    public double PrefillMs(int newTokens, int contextTokens) => StepMs(newTokens, (long)newTokens * contextTokens, 0, 0);

    /// <summary>Milliseconds for a decode-only step.</summary>
    public double DecodeMs(int batchSize, long totalContextTokens) => StepMs(0, 0, batchSize, totalContextTokens);

    internal string? FirstError()
    {
        (string Name, double Value)[] parameters =
        [
            (nameof(PrefillBaseMs), PrefillBaseMs),
            (nameof(PrefillPerTokenMs), PrefillPerTokenMs),
            (nameof(PrefillQuadraticMs), PrefillQuadraticMs),
            (nameof(DecodeBaseMs), DecodeBaseMs),
            (nameof(DecodePerSeqMs), DecodePerSeqMs),
            (nameof(DecodePerKvTokenMs), DecodePerKvTokenMs),
        ];
        foreach ((string name, double value) in parameters)
        {
            if (!double.IsFinite(value) || value < 0)
            {
                return $"Dynamo:Mocker:Performance:{name} must be a finite number >= 0 (got {value}).";
            }
        }

        return null;
    }
}
