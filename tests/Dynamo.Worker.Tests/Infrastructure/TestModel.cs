using Dynamo.Llm;
using Dynamo.Llm.Tokenization;

namespace Dynamo.Worker.Tests.Infrastructure;

/// <summary>A GPT-2 tokenizer folder with a minimal config.json, written once per test run.</summary>
internal static class TestModel
{
    public const string Name = "test-model";
    public const int MaxContextLength = 2048;
    public const int VocabSize = 50257;
    public const int EosTokenId = 50256;

    private static readonly Lazy<string> s_dir = new(Create);

    public static string Directory => s_dir.Value;

    public static ModelCard LoadCard() => ModelCard.Load(Directory, Name);

    private static string Create()
    {
        var dir = Path.Combine(Path.GetTempPath(), "dynamo-worker-tests-" + Environment.ProcessId);
        TokenizerFiles.WriteGpt2(dir);
        File.WriteAllText(
            Path.Combine(dir, "config.json"),
            $$"""{"max_position_embeddings":{{MaxContextLength}},"eos_token_id":{{EosTokenId}},"vocab_size":{{VocabSize}}}""");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                System.IO.Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return dir;
    }
}
