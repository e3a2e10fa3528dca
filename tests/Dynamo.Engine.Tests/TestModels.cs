using Dynamo.Engine.Model;
using Dynamo.Engine.Safetensors;

namespace Dynamo.Engine.Tests;

/// <summary>Generated model folders shared by the tests of one run (written once, in a temporary folder).</summary>
internal static class TestModels
{
    private static readonly Lazy<Task<string>> TinyFolder = new(() => Write("tiny", ModelPresets.Get(ModelPreset.Tiny), SafetensorsDType.F32));

    private static readonly Lazy<Task<string>> Qwen2Folder = new(() => Write("qwen2", ModelPresets.Get(ModelPreset.Tiny) with
    {
        ModelType = "qwen2",
        QkvBias = true,
        NumKeyValueHeads = 1,
        VocabSize = 1000,
        TieWordEmbeddings = true,
    }, SafetensorsDType.F32));

    public static Task<string> Tiny() => TinyFolder.Value;

    /// <summary>A Qwen2-style variant: q/k/v biases, one KV head, tied embeddings, small vocabulary.</summary>
    public static Task<string> Qwen2() => Qwen2Folder.Value;

    public static string NewTempFolder(string name)
    {
        var path = Path.Combine(Path.GetTempPath(), "dynamo-engine-tests", $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    private static async Task<string> Write(string name, LlamaConfig config, SafetensorsDType dtype)
    {
        var folder = NewTempFolder(name);
        await ModelWriter.WriteAsync(folder, config, seed: 7, dtype);
        return folder;
    }
}
