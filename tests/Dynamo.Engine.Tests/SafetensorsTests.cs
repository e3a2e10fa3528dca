using System.Buffers.Binary;
using System.Text;
using Dynamo.Engine.Model;
using Dynamo.Engine.Safetensors;

namespace Dynamo.Engine.Tests;

public sealed class SafetensorsTests
{
    [Theory]
    [InlineData(SafetensorsDType.F32)]
    [InlineData(SafetensorsDType.F16)]
    [InlineData(SafetensorsDType.BF16)]
    public async Task RoundTrip_EachDType_ValuesWithinDTypePrecision(SafetensorsDType dtype)
    {
        var folder = TestModels.NewTempFolder("roundtrip");
        var path = Path.Combine(folder, "t.safetensors");
        var values = Enumerable.Range(0, 3 * 5 * 7).Select(i => MathF.Sin(i) * (i + 1)).ToArray();

        await SafetensorsWriter.WriteAsync(path, [SafetensorsEntry.FromArray("w", dtype, [3, 5, 7], values), SafetensorsEntry.FromArray("b", dtype, [2], [1f, -2f])]);

        using var file = SafetensorsFile.Open(path);
        var info = file.GetInfo("w");
        Assert.Equal(dtype, info.DType);
        Assert.Equal(new long[] { 3, 5, 7 }, info.Shape);
        var read = new float[values.Length];
        file.ReadAsSingle(info, read);
        var tolerance = dtype switch { SafetensorsDType.F32 => 0f, SafetensorsDType.F16 => 1f / 1024, _ => 1f / 128 };
        for (var i = 0; i < values.Length; i++)
        {
            Assert.True(Math.Abs(values[i] - read[i]) <= Math.Abs(values[i]) * tolerance, $"element {i}: wrote {values[i]}, read {read[i]}");
        }
    }

    [Theory]
    [InlineData(SafetensorsDType.F32)]
    [InlineData(SafetensorsDType.F16)]
    [InlineData(SafetensorsDType.BF16)]
    public async Task GeneratedModel_EachDType_LoadsAndGivesSameGreedyTokensAsReference(SafetensorsDType dtype)
    {
        var folder = TestModels.NewTempFolder($"model-{dtype}");
        await ModelWriter.WriteAsync(folder, ModelPresets.Get(ModelPreset.Tiny), seed: 3, dtype, maxShardBytes: dtype == SafetensorsDType.F16 ? 4_000_000 : 0);

        using var backend = new Compute.ManagedComputeBackend(2);
        var model = LlamaModel.Load(folder, backend);

        Assert.Equal(dtype, model.StoredDType);
        Assert.Equal(dtype == SafetensorsDType.F16, File.Exists(Path.Combine(folder, SafetensorsCheckpoint.IndexFileName)));
        var config = LlamaConfig.Load(folder);
        Assert.Equal((ModelPresets.Get(ModelPreset.Tiny) with { TorchDType = config.TorchDType }).ToJson(), config.ToJson());
        var prompt = new[] { 50256, 464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13 };
        Assert.Equal(new ReferenceLlama(folder).Greedy(prompt, 6), ForwardTests.GreedyPaged(model, prompt, maxTokens: 6, prefillChunk: 4, blockSize: 16));
    }

    [Fact]
    public async Task ModelWriter_TinyPreset_WritesCompleteFolderWhoseTokenizerLoads()
    {
        var folder = await TestModels.Tiny();

        var tokenizer = Dynamo.Llm.Tokenization.TokenizerLoader.Load(folder);

        Assert.True(File.Exists(Path.Combine(folder, "tokenizer_config.json")));
        Assert.True(File.Exists(Path.Combine(folder, "generation_config.json")));
        var ids = tokenizer.EncodeToIds("Hello world");
        Assert.NotEmpty(ids);
        Assert.All(ids, id => Assert.InRange(id, 0, ModelPresets.Gpt2VocabSize - 1));
    }

    [Fact]
    public async Task EnsureAsync_WritesOnceThenReuses()
    {
        var folder = Path.Combine(TestModels.NewTempFolder("ensure"), "cache", "tiny");

        await ModelWriter.EnsureAsync(folder, ModelPreset.Tiny, seed: 5);
        var written = File.GetLastWriteTimeUtc(Path.Combine(folder, "model.safetensors"));
        await ModelWriter.EnsureAsync(folder, ModelPreset.Tiny, seed: 5);

        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(folder, "model.safetensors")));
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(folder)!, "*.tmp"));
    }

    [Fact]
    public async Task Open_TruncatedFile_RefusedNamingTheTensor()
    {
        var folder = TestModels.NewTempFolder("truncated");
        var path = Path.Combine(folder, "model.safetensors");
        await SafetensorsWriter.WriteAsync(path, [SafetensorsEntry.FromArray("a", SafetensorsDType.F32, [4], [1, 2, 3, 4]), SafetensorsEntry.FromArray("b", SafetensorsDType.F32, [8], new float[8])]);
        var bytes = await File.ReadAllBytesAsync(path);
        await File.WriteAllBytesAsync(path, bytes[..^4]);

        var error = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path));

        Assert.Contains("'b'", error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public async Task Open_CorruptHeaderLength_Refused()
    {
        var folder = TestModels.NewTempFolder("corrupt");
        var path = Path.Combine(folder, "model.safetensors");
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1_000_000);
        await File.WriteAllBytesAsync(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path));

        Assert.Contains("header length", error.Message);
    }

    [Fact]
    public async Task Open_OffsetsDisagreeWithShape_RefusedNamingTensorAndShape()
    {
        var folder = TestModels.NewTempFolder("offsets");
        var path = Path.Combine(folder, "model.safetensors");
        var header = Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}");
        var bytes = new byte[8 + header.Length + 24];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        await File.WriteAllBytesAsync(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path));

        Assert.Contains("'w'", error.Message);
        Assert.Contains("[2, 3]", error.Message);
    }

    [Fact]
    public async Task Load_TensorShapeDisagreesWithConfig_RefusedNamingTensorAndBothShapes()
    {
        var folder = TestModels.NewTempFolder("mismatch");
        var config = ModelPresets.Get(ModelPreset.Tiny) with { VocabSize = 300 };
        await ModelWriter.WriteAsync(folder, config, seed: 1, SafetensorsDType.F32);
        await File.WriteAllTextAsync(Path.Combine(folder, "config.json"), (config with { IntermediateSize = 100 }).ToJson());

        using var backend = new Compute.ManagedComputeBackend(1);
        var error = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(folder, backend));

        Assert.Contains("model.layers.0.mlp.gate_proj.weight", error.Message);
        Assert.Contains("[176, 64]", error.Message);
        Assert.Contains("[100, 64]", error.Message);
    }

    [Fact]
    public async Task Load_MissingTensor_RefusedNamingIt()
    {
        var folder = TestModels.NewTempFolder("missing");
        var config = ModelPresets.Get(ModelPreset.Tiny) with { VocabSize = 300, TieWordEmbeddings = true };
        await ModelWriter.WriteAsync(folder, config, seed: 1, SafetensorsDType.F32);
        await File.WriteAllTextAsync(Path.Combine(folder, "config.json"), (config with { NumHiddenLayers = 3 }).ToJson());

        using var backend = new Compute.ManagedComputeBackend(1);
        var error = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(folder, backend));

        Assert.Contains("model.layers.2.", error.Message);
        Assert.Contains("missing", error.Message);
    }

    [Fact]
    public void Config_Qwen2Names_ParsedWithBiasAndDefaults()
    {
        var config = LlamaConfig.Parse("""
            {"model_type":"qwen2","hidden_size":896,"intermediate_size":4864,"num_hidden_layers":24,"num_attention_heads":14,
             "num_key_value_heads":2,"rms_norm_eps":1e-06,"rope_theta":1000000.0,"vocab_size":151936,"max_position_embeddings":32768,
             "tie_word_embeddings":true,"bos_token_id":151643,"eos_token_id":[151645,151643],"torch_dtype":"bfloat16"}
            """);

        Assert.True(config.QkvBias);
        Assert.False(config.OutputBias);
        Assert.Equal(64, config.HeadDim);
        Assert.Equal(1_000_000f, config.RopeTheta);
        Assert.Equal(new[] { 151645, 151643 }, config.EosTokenIds);
        Assert.Equal(2 * 24 * 2 * 64 * 4, config.KvBytesPerToken);
    }
}
