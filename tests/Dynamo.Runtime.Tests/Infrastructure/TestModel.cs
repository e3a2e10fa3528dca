using Dynamo.Engine.Model;
using Dynamo.Llm;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>One generated tiny model per test run (tokenizer and config; the mocker never reads the weights).</summary>
internal static class TestModel
{
    public const string Name = "tiny";
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? _directory;

    public static async Task<string> DirectoryAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_directory is null)
            {
                var dir = Path.Combine(Path.GetTempPath(), "dynamo-tests", "runtime-tiny-" + Environment.ProcessId);
                await ModelWriter.WriteAsync(dir, ModelPreset.Tiny, seed: 0);
                _directory = dir;
            }

            return _directory;
        }
        finally
        {
            Gate.Release();
        }
    }

    public static async Task<ModelCard> CardAsync() => ModelCard.Load(await DirectoryAsync(), Name);
}
