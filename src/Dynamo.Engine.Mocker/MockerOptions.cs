namespace Dynamo.Engine.Mocker;

/// <summary>
/// Settings of a <see cref="MockerEngine"/>, bound from <c>Dynamo:Mocker</c>. Defaults resemble vLLM serving an
/// 8B model on one H100.
/// </summary>
public sealed class MockerOptions
{
    /// <summary>Served model name. Also keys the token function: two models give different text. Default "mock-model".</summary>
    public string ModelName { get; set; } = "mock-model";

    /// <summary>Worker id stamped on KV events. Default "mocker"; a worker sets its own.</summary>
    public string WorkerId { get; set; } = "mocker";

    /// <summary>Token ids are drawn from [0, VocabSize). Default 32000 (fits GPT-2 and Llama-2 tokenizers).</summary>
    public int VocabSize { get; set; } = 32000;

    /// <summary>End-of-sequence ids; generated only when <see cref="EosProbability"/> fires. Default [2] (Llama-2's &lt;/s&gt;).</summary>
    public int[] EosTokenIds { get; set; } = [2];

    /// <summary>Prompt plus generated tokens at most; a sequence reaching it finishes with length. Default 4096.</summary>
    public int MaxContextLength { get; set; } = 4096;

    /// <summary>Tokens per KV block. Default 16.</summary>
    public int BlockSize { get; set; } = 16;

    /// <summary>KV blocks in the pool. Default 16384 (256K tokens, about an 8B model's KV on an 80 GB GPU).</summary>
    public int TotalKvBlocks { get; set; } = 16384;

    /// <summary>Batch slots: sequences running at once. Default 256 (vLLM's max_num_seqs).</summary>
    public int MaxNumSeqs { get; set; } = 256;

    /// <summary>Tokens computed per step (decode tokens plus prefill chunks). Default 8192.</summary>
    public int MaxNumBatchedTokens { get; set; } = 8192;

    /// <summary>
    /// Fraction of the KV pool kept free when admitting a new sequence while others run, so running ones can
    /// grow without immediate preemption. Default 0.01 (vLLM's watermark).
    /// </summary>
    public double KvWatermark { get; set; } = 0.01;

    /// <summary>
    /// Divides every simulated time. Default 1 (real time). On the system clock, timers resolve to about a
    /// millisecond, so very large factors stop helping; a virtual <see cref="TimeProvider"/> does not have that limit.
    /// </summary>
    public double SpeedupFactor { get; set; } = 1.0;

    /// <summary>Take no simulated time at all (proxy and router benchmarks). Default false.</summary>
    public bool ZeroDelay { get; set; }

    /// <summary>Chance, per generated token, of an end-of-sequence token. Default 0 (run to max_tokens).</summary>
    public double EosProbability { get; set; }

    /// <summary>KV events kept for replay. Default 10,000.</summary>
    public int ReplayBufferSize { get; set; } = 10_000;

    /// <summary>
    /// Tokens a request may have produced and its reader not yet taken before the request stops being scheduled
    /// (it keeps its blocks). Bounds memory when a client reads slowly. Default 256.
    /// </summary>
    public int OutputBufferSize { get; set; } = 256;

    /// <summary>Step timing. See <see cref="PerformanceModel"/> for units and where the defaults come from.</summary>
    public PerformanceModel Performance { get; set; } = new();

    /// <summary>
    /// KV bytes of one token, every layer's K and V: layers × 2 × KV heads × head dim × dtype bytes. Sizes the
    /// blocks a prefill hands to a decode worker and the modeled transfer. Default 131072, Llama-3-8B in bf16
    /// (32 × 2 × 8 × 128 × 2), the model the step-time defaults stand for.
    /// </summary>
    public long KvBytesPerToken { get; set; } = 131072;

    /// <summary>Disaggregated prefill and decode: the transfer model and the pin timeout.</summary>
    public MockerKvTransferOptions KvTransfer { get; set; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting and its value.</summary>
    public void Validate()
    {
        if (FirstError() is string error)
        {
            throw new ArgumentException(error);
        }
    }

    /// <summary>The first problem with these settings, or null.</summary>
    public string? FirstError()
    {
        const string P = "Dynamo:Mocker:";
        if (string.IsNullOrWhiteSpace(ModelName))
        {
            return $"{P}ModelName must not be empty (got '{ModelName}').";
        }

        if (string.IsNullOrWhiteSpace(WorkerId))
        {
            return $"{P}WorkerId must not be empty (got '{WorkerId}').";
        }

        if (EosTokenIds is null)
        {
            return $"{P}EosTokenIds must not be null.";
        }

        if (VocabSize <= EosTokenIds.Length)
        {
            return $"{P}VocabSize must leave at least one id that is not end-of-sequence (got {VocabSize} with {EosTokenIds.Length} EOS ids).";
        }

        foreach (int eos in EosTokenIds)
        {
            if (eos < 0 || eos >= VocabSize)
            {
                return $"{P}EosTokenIds must be in [0, VocabSize={VocabSize}) (got {eos}).";
            }
        }

        if (EosTokenIds.Distinct().Count() != EosTokenIds.Length)
        {
            return $"{P}EosTokenIds must not repeat an id (got [{string.Join(", ", EosTokenIds)}]).";
        }

        if (BlockSize is < 1 or > 1024)
        {
            return $"{P}BlockSize must be between 1 and 1024 (got {BlockSize}).";
        }

        if (MaxContextLength < 2)
        {
            return $"{P}MaxContextLength must be at least 2 (got {MaxContextLength}).";
        }

        int blocksForOneSequence = (MaxContextLength + BlockSize - 1) / BlockSize;
        if (TotalKvBlocks < blocksForOneSequence)
        {
            return $"{P}TotalKvBlocks must hold one sequence at MaxContextLength, {blocksForOneSequence} blocks (got {TotalKvBlocks}).";
        }

        if (MaxNumSeqs < 1)
        {
            return $"{P}MaxNumSeqs must be at least 1 (got {MaxNumSeqs}).";
        }

        if (MaxNumBatchedTokens < 1)
        {
            return $"{P}MaxNumBatchedTokens must be at least 1 (got {MaxNumBatchedTokens}).";
        }

        if (!(KvWatermark >= 0 && KvWatermark < 1))
        {
            return $"{P}KvWatermark must be in [0, 1) (got {KvWatermark}).";
        }

        if (!double.IsFinite(SpeedupFactor) || SpeedupFactor <= 0)
        {
            return $"{P}SpeedupFactor must be a finite number > 0 (got {SpeedupFactor}).";
        }

        if (!(EosProbability >= 0 && EosProbability <= 1))
        {
            return $"{P}EosProbability must be in [0, 1] (got {EosProbability}).";
        }

        if (EosProbability > 0 && EosTokenIds.Length == 0)
        {
            return $"{P}EosProbability is {EosProbability} but EosTokenIds is empty.";
        }

        if (ReplayBufferSize < 0)
        {
            return $"{P}ReplayBufferSize must not be negative (got {ReplayBufferSize}).";
        }

        if (OutputBufferSize < 1)
        {
            return $"{P}OutputBufferSize must be at least 1 (got {OutputBufferSize}).";
        }

        if (KvBytesPerToken < 1)
        {
            return $"{P}KvBytesPerToken must be at least 1 (got {KvBytesPerToken}).";
        }

        if (KvTransfer is null)
        {
            return $"{P}KvTransfer must not be null.";
        }

        if (KvTransfer.FirstError() is string transferError)
        {
            return transferError;
        }

        return Performance is null ? $"{P}Performance must not be null." : Performance.FirstError();
    }
}
