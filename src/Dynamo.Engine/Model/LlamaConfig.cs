using System.Text.Json;
using System.Text.Json.Nodes;

namespace Dynamo.Engine.Model;

/// <summary>
/// The fields of a Hugging Face <c>config.json</c> the engine needs, for Llama (<c>LlamaForCausalLM</c>) and
/// Qwen2 (<c>Qwen2ForCausalLM</c>: same names, biases on q/k/v). Defaults are the transformers library's.
/// </summary>
public sealed record LlamaConfig
{
    public const string FileName = "config.json";

    public string ModelType { get; init; } = "llama";

    public required int HiddenSize { get; init; }

    public required int IntermediateSize { get; init; }

    public required int NumHiddenLayers { get; init; }

    public required int NumAttentionHeads { get; init; }

    /// <summary>Defaults to <see cref="NumAttentionHeads"/> (multi-head attention).</summary>
    public required int NumKeyValueHeads { get; init; }

    /// <summary>Defaults to hidden_size / num_attention_heads.</summary>
    public required int HeadDim { get; init; }

    public float RmsNormEps { get; init; } = 1e-6f;

    public float RopeTheta { get; init; } = 10000f;

    public required int VocabSize { get; init; }

    public int MaxPositionEmbeddings { get; init; } = 2048;

    public bool TieWordEmbeddings { get; init; }

    /// <summary>Biases on q_proj, k_proj and v_proj: Qwen2 always, Llama when <c>attention_bias</c> is true.</summary>
    public bool QkvBias { get; init; }

    /// <summary>Bias on o_proj: Llama with <c>attention_bias</c> true.</summary>
    public bool OutputBias { get; init; }

    public int? BosTokenId { get; init; }

    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary>The <c>torch_dtype</c> field, informational ("float32", "float16", "bfloat16").</summary>
    public string TorchDType { get; init; } = "float32";

    public int QDim => NumAttentionHeads * HeadDim;

    public int KvDim => NumKeyValueHeads * HeadDim;

    /// <summary>Bytes of K and V per token over all layers at fp32, as the KV pool stores them.</summary>
    public long KvBytesPerToken => 2L * NumHiddenLayers * KvDim * sizeof(float);

    public long ParameterCount
    {
        get
        {
            long perLayer = 2L * HiddenSize
                + (long)HiddenSize * (QDim + 2 * KvDim) + (QkvBias ? QDim + 2 * KvDim : 0)
                + (long)QDim * HiddenSize + (OutputBias ? HiddenSize : 0)
                + 3L * HiddenSize * IntermediateSize;
            return (long)VocabSize * HiddenSize * (TieWordEmbeddings ? 1 : 2) + HiddenSize + NumHiddenLayers * perLayer;
        }
    }

    public static LlamaConfig Load(string modelDirectory)
    {
        var path = Path.Combine(modelDirectory, FileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{modelDirectory}: no {FileName}", path);
        }

        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException or FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: {ex.Message}", ex);
        }
    }

    public static LlamaConfig Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var modelType = GetString(root, "model_type") ?? "llama";
        if (modelType is not ("llama" or "qwen2" or "mistral"))
        {
            throw new InvalidDataException($"model_type '{modelType}' is not supported (llama, qwen2, mistral)");
        }

        var hidden = Required(root, "hidden_size");
        var heads = Required(root, "num_attention_heads");
        var kvHeads = GetInt(root, "num_key_value_heads") ?? heads;
        var headDim = GetInt(root, "head_dim") ?? hidden / heads;
        if (heads % kvHeads != 0)
        {
            throw new InvalidDataException($"num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        }

        if (headDim % 2 != 0)
        {
            throw new InvalidDataException($"head_dim {headDim} must be even for rotary embeddings");
        }

        if (root.TryGetProperty("rope_scaling", out var scaling) && scaling.ValueKind == JsonValueKind.Object)
        {
            throw new InvalidDataException("rope_scaling is not supported yet");
        }

        var attentionBias = GetBool(root, "attention_bias") ?? false;
        var isQwen2 = modelType == "qwen2";
        return new LlamaConfig
        {
            ModelType = modelType,
            HiddenSize = hidden,
            IntermediateSize = Required(root, "intermediate_size"),
            NumHiddenLayers = Required(root, "num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEps = (float)(GetDouble(root, "rms_norm_eps") ?? 1e-6),
            RopeTheta = (float)(GetDouble(root, "rope_theta") ?? 10000),
            VocabSize = Required(root, "vocab_size"),
            MaxPositionEmbeddings = GetInt(root, "max_position_embeddings") ?? 2048,
            TieWordEmbeddings = GetBool(root, "tie_word_embeddings") ?? false,
            QkvBias = isQwen2 || attentionBias,
            OutputBias = !isQwen2 && attentionBias,
            BosTokenId = GetInt(root, "bos_token_id"),
            EosTokenIds = GetIntList(root, "eos_token_id"),
            TorchDType = GetString(root, "torch_dtype") ?? "float32",
        };
    }

    /// <summary>The config as <c>config.json</c> text, with Llama's (or Qwen2's) field names.</summary>
    public string ToJson()
    {
        var node = new JsonObject
        {
            ["architectures"] = new JsonArray(ModelType == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"),
            ["model_type"] = ModelType,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["head_dim"] = HeadDim,
            ["hidden_act"] = "silu",
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["vocab_size"] = VocabSize,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["torch_dtype"] = TorchDType,
        };
        if (ModelType != "qwen2")
        {
            node["attention_bias"] = QkvBias;
        }

        if (BosTokenId is { } bos)
        {
            node["bos_token_id"] = bos;
        }

        if (EosTokenIds.Count == 1)
        {
            node["eos_token_id"] = EosTokenIds[0];
        }
        else if (EosTokenIds.Count > 1)
        {
            node["eos_token_id"] = new JsonArray(EosTokenIds.Select(id => (JsonNode?)id).ToArray());
        }

        return node.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static int Required(JsonElement root, string name) =>
        GetInt(root, name) ?? throw new InvalidDataException($"required field '{name}' is missing");

    private static int? GetInt(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetInt32() : null;

    private static double? GetDouble(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;

    private static bool? GetBool(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : null;

    private static string? GetString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static int[] GetIntList(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value))
        {
            return [];
        }

        return value.ValueKind switch
        {
            JsonValueKind.Number => [value.GetInt32()],
            JsonValueKind.Array => value.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.Number).Select(e => e.GetInt32()).ToArray(),
            _ => [],
        };
    }
}
