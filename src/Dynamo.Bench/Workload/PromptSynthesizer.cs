namespace Dynamo.Bench.Workload;

/// <summary>
/// Turns a <see cref="BenchRequest"/> into prompt token ids. Each prefix block id expands into
/// <see cref="TraceBlockTokens"/> tokens that are a pure function of the id, so equal ids give equal blocks on
/// every engine block size that divides 512 (16, 32, 64); the last block is cut to the input length.
/// </summary>
public sealed class PromptSynthesizer
{
    /// <summary>Tokens per trace block (Mooncake's hash_id granularity).</summary>
    public const int TraceBlockTokens = 512;

    /// <summary>Ids below this are left out: tokenizers put special tokens at the start of the vocabulary.</summary>
    public const int FirstTokenId = 100;

    private readonly int _span;

    /// <param name="vocabSize">Ids are drawn from [100, vocabSize). Default 32000 (fits Llama-2 and GPT-2 vocabularies).</param>
    public PromptSynthesizer(int vocabSize = 32000)
    {
        if (vocabSize <= FirstTokenId + 1)
        {
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, $"The vocabulary must have more than {FirstTokenId + 1} ids.");
        }

        VocabSize = vocabSize;
        _span = vocabSize - FirstTokenId;
    }

    public int VocabSize { get; }

    public int[] Tokens(BenchRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var tokens = new int[request.InputLength];
        Fill(request.HashIds, tokens);
        return tokens;
    }

    /// <summary>Fills <paramref name="tokens"/> from the block ids; positions past the last id's block get the last id's continuation.</summary>
    public void Fill(IReadOnlyList<long> hashIds, Span<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(hashIds);
        for (int i = 0; i < tokens.Length; i++)
        {
            int block = i / TraceBlockTokens;
            long id = block < hashIds.Count ? hashIds[block] : (hashIds.Count == 0 ? 0 : hashIds[^1]) ^ ((long)block << 40);
            ulong mixed = Mix(((ulong)id * 0x9E3779B97F4A7C15) ^ (ulong)(i % TraceBlockTokens));
            tokens[i] = FirstTokenId + (int)(mixed % (ulong)_span);
        }
    }

    /// <summary>splitmix64's finalizer.</summary>
    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
