namespace Dynamo.Engine.Model;

/// <summary>The configurations behind <see cref="ModelPreset"/> and their CLI names.</summary>
public static class ModelPresets
{
    /// <summary>GPT-2's vocabulary, so the generated folder works with the GPT-2 tokenizer files.</summary>
    public const int Gpt2VocabSize = 50257;

    /// <summary>GPT-2's <c>&lt;|endoftext|&gt;</c>, used as BOS and EOS.</summary>
    public const int Gpt2EndOfText = 50256;

    public static LlamaConfig Get(ModelPreset preset) => preset switch
    {
        ModelPreset.Tiny => Make(hidden: 64, intermediate: 176, layers: 2, heads: 4, kvHeads: 2, tied: false),
        ModelPreset.Small => Make(hidden: 256, intermediate: 704, layers: 4, heads: 8, kvHeads: 4, tied: false),
        ModelPreset.Params100M => Make(hidden: 768, intermediate: 2048, layers: 10, heads: 12, kvHeads: 4, tied: true),
        _ => throw new ArgumentOutOfRangeException(nameof(preset), preset, "unknown preset"),
    };

    /// <summary>Parses the CLI names <c>tiny</c>, <c>small</c> and <c>100m</c>.</summary>
    public static bool TryParse(string name, out ModelPreset preset)
    {
        switch (name.ToLowerInvariant())
        {
            case "tiny": preset = ModelPreset.Tiny; return true;
            case "small": preset = ModelPreset.Small; return true;
            case "100m": preset = ModelPreset.Params100M; return true;
            default: preset = default; return false;
        }
    }

    public static string Name(ModelPreset preset) => preset switch
    {
        ModelPreset.Tiny => "tiny",
        ModelPreset.Small => "small",
        ModelPreset.Params100M => "100m",
        _ => throw new ArgumentOutOfRangeException(nameof(preset), preset, "unknown preset"),
    };

    private static LlamaConfig Make(int hidden, int intermediate, int layers, int heads, int kvHeads, bool tied) => new()
    {
        ModelType = "llama",
        HiddenSize = hidden,
        IntermediateSize = intermediate,
        NumHiddenLayers = layers,
        NumAttentionHeads = heads,
        NumKeyValueHeads = kvHeads,
        HeadDim = hidden / heads,
        RmsNormEps = 1e-5f,
        RopeTheta = 10000f,
        VocabSize = Gpt2VocabSize,
        MaxPositionEmbeddings = 4096,
        TieWordEmbeddings = tied,
        BosTokenId = Gpt2EndOfText,
        EosTokenIds = [Gpt2EndOfText],
    };
}
