using System.Text.Json.Nodes;
using Dynamo.Engine.Safetensors;
using Dynamo.Engine.Sampling;
using Dynamo.Llm.Tokenization;

namespace Dynamo.Engine.Model;

/// <summary>
/// Writes a Hugging Face style Llama model folder (<c>config.json</c>, <c>generation_config.json</c>,
/// safetensors weights, tokenizer files) with seeded random weights: what <c>dynamo model init</c> produces.
/// </summary>
public static class ModelWriter
{
    /// <summary>Writes <paramref name="preset"/> into <paramref name="directory"/> (created if needed).</summary>
    public static Task WriteAsync(string directory, ModelPreset preset, int seed, SafetensorsDType dtype = SafetensorsDType.F32,
        CancellationToken cancellationToken = default) =>
        WriteAsync(directory, ModelPresets.Get(preset), seed, dtype, maxShardBytes: 0, cancellationToken);

    /// <summary>
    /// Writes the preset into <paramref name="directory"/> unless a model is already there (for <c>dynamo serve</c>'s
    /// cached default model). The folder is written beside the target and renamed into place, so a reader never
    /// sees half a model and two processes racing both end up with a complete one.
    /// </summary>
    public static async Task<string> EnsureAsync(string directory, ModelPreset preset, int seed, CancellationToken cancellationToken = default)
    {
        if (File.Exists(Path.Combine(directory, LlamaConfig.FileName)))
        {
            return directory;
        }

        var full = Path.GetFullPath(directory);
        var staging = $"{Path.TrimEndingDirectorySeparator(full)}.{Guid.NewGuid():N}.tmp";
        try
        {
            await WriteAsync(staging, preset, seed, SafetensorsDType.F32, cancellationToken);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(full))!);
            try
            {
                Directory.Move(staging, full);
            }
            catch (IOException) when (File.Exists(Path.Combine(full, LlamaConfig.FileName)))
            {
                // Another process won the race; its model is as good as ours.
            }
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }

        return directory;
    }

    /// <summary>
    /// Writes any config. With <paramref name="maxShardBytes"/> &gt; 0 the weights are split into
    /// <c>model-0000i-of-0000n.safetensors</c> shards with a <c>model.safetensors.index.json</c>.
    /// </summary>
    public static async Task WriteAsync(string directory, LlamaConfig config, int seed, SafetensorsDType dtype, long maxShardBytes = 0,
        CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(directory);
        config = config with
        {
            TorchDType = dtype switch
            {
                SafetensorsDType.F16 => "float16",
                SafetensorsDType.BF16 => "bfloat16",
                _ => "float32",
            },
        };
        await File.WriteAllTextAsync(Path.Combine(directory, LlamaConfig.FileName), config.ToJson(), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "generation_config.json"), GenerationConfigJson(config), cancellationToken);

        var entries = LlamaTensorNames.All(config)
            .Select(t => new SafetensorsEntry(t.Name, dtype, t.Shape, span => Fill(span, t.Name, t.Shape, seed, config.TieWordEmbeddings)))
            .ToList();
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["generator"] = "dynamo model init", ["seed"] = seed.ToString() };
        var shards = Split(entries, maxShardBytes);
        if (shards.Count == 1)
        {
            await SafetensorsWriter.WriteAsync(Path.Combine(directory, SafetensorsCheckpoint.SingleFileName), entries, metadata, cancellationToken);
            File.Delete(Path.Combine(directory, SafetensorsCheckpoint.IndexFileName));
        }
        else
        {
            var weightMap = new JsonObject();
            long total = 0;
            for (var i = 0; i < shards.Count; i++)
            {
                var file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                await SafetensorsWriter.WriteAsync(Path.Combine(directory, file), shards[i], metadata, cancellationToken);
                foreach (var entry in shards[i])
                {
                    weightMap[entry.Name] = file;
                    total += entry.ElementCount * SizeOf(dtype);
                }
            }

            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
            await File.WriteAllTextAsync(Path.Combine(directory, SafetensorsCheckpoint.IndexFileName), index.ToJsonString(), cancellationToken);
            File.Delete(Path.Combine(directory, SafetensorsCheckpoint.SingleFileName));
        }

        // The presets use GPT-2's vocabulary, so GPT-2's tokenizer makes the folder complete; a custom vocabulary
        // size gets no tokenizer (token-id prompts only).
        if (config.VocabSize == ModelPresets.Gpt2VocabSize)
        {
            TokenizerFiles.WriteGpt2(directory, config.MaxPositionEmbeddings);
        }
    }

    private static int SizeOf(SafetensorsDType dtype) => dtype == SafetensorsDType.F32 ? 4 : 2;

    private static List<List<SafetensorsEntry>> Split(List<SafetensorsEntry> entries, long maxShardBytes)
    {
        var shards = new List<List<SafetensorsEntry>> { new() };
        long current = 0;
        foreach (var entry in entries)
        {
            var bytes = entry.ElementCount * SizeOf(entry.DType);
            if (maxShardBytes > 0 && current > 0 && current + bytes > maxShardBytes)
            {
                shards.Add([]);
                current = 0;
            }

            shards[^1].Add(entry);
            current += bytes;
        }

        return shards;
    }

    private static string GenerationConfigJson(LlamaConfig config)
    {
        var node = new JsonObject { ["_from_model_config"] = true };
        if (config.BosTokenId is { } bos)
        {
            node["bos_token_id"] = bos;
        }

        if (config.EosTokenIds.Count > 0)
        {
            node["eos_token_id"] = config.EosTokenIds[0];
        }

        return node.ToJsonString();
    }

    /// <summary>
    /// Uniform weights with the standard deviation that keeps each projection's output near unit variance
    /// (1/sqrt(fan_in)), norms at one: activations stay sane through the layers and logits spread enough that
    /// greedy decoding is not one repeated token. Embeddings are at unit variance when the output head is its own
    /// matrix; a tied head (the embeddings reused as the output projection) gets 1/sqrt(hidden) instead: at unit
    /// variance the logit of the token just read is its embedding's squared norm (hidden, 768 for the 100m preset)
    /// against about sqrt(hidden) for every other token, so greedy output only repeated the last prompt token (logit
    /// gaps of 50-200) and no comparison on it could tell a right forward pass from a wrong one.
    /// </summary>
    private static void Fill(Span<float> span, string name, int[] shape, int seed, bool tied)
    {
        if (name.EndsWith("layernorm.weight", StringComparison.Ordinal) || name == LlamaTensorNames.FinalNorm)
        {
            span.Fill(1f);
            return;
        }

        var std = name switch
        {
            LlamaTensorNames.Embed => tied ? 1.0 / Math.Sqrt(shape[^1]) : 1.0,
            _ when name.EndsWith(".bias", StringComparison.Ordinal) => 0.02,
            _ => 1.0 / Math.Sqrt(shape[^1]),
        };
        var half = (float)(std * Math.Sqrt(3.0));
        var rng = new SplitMix64(TensorSeed(seed, name));
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = ((rng.NextSingle() * 2f) - 1f) * half;
        }
    }

    private static ulong TensorSeed(int seed, string name)
    {
        var hash = 0xCBF2_9CE4_8422_2325UL ^ (ulong)(uint)seed;
        foreach (var ch in name)
        {
            hash = (hash ^ ch) * 0x0000_0100_0000_01B3UL;
        }

        return hash;
    }
}
