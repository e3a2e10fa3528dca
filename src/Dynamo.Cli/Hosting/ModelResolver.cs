using Dynamo.Engine.Model;
using Dynamo.Runtime.Observability;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Hosting;

/// <summary>
/// Turns <c>--model</c> into a model folder: a folder is used as it is; a preset name (tiny, small, 100m) is
/// generated once into the cache (<c>$DYNAMO_CACHE_DIR</c>, default <c>~/.cache/dynamo</c>) and reused.
/// </summary>
public static partial class ModelResolver
{
    public static bool TryParsePreset(string name, out ModelPreset preset)
    {
        switch (name.Trim().ToLowerInvariant())
        {
            case "tiny":
                preset = ModelPreset.Tiny;
                return true;
            case "small":
                preset = ModelPreset.Small;
                return true;
            case "100m":
                preset = ModelPreset.Params100M;
                return true;
            default:
                preset = default;
                return false;
        }
    }

    public static string CacheDirectory()
    {
        var configured = Environment.GetEnvironmentVariable(EnvironmentVariables.CacheDir);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(string.IsNullOrEmpty(home) ? Path.GetTempPath() : home, ".cache", "dynamo");
    }

    public static async Task<string> ResolveAsync(string model, int seed, ILogger logger, CancellationToken cancellationToken)
    {
        if (!TryParsePreset(model, out var preset))
        {
            if (!Directory.Exists(model))
            {
                throw new Configuration.ConfigurationException($"Dynamo:Serve:Model = '{model}': not a folder and not a preset (tiny, small, 100m).");
            }

            return Path.GetFullPath(model);
        }

        // Tied-head presets (100m) changed their initialisation: a folder generated before that is not reused ("-w2").
        var generation = ModelPresets.Get(preset).TieWordEmbeddings ? "-w2" : "";
        var directory = Path.Combine(CacheDirectory(), "models", $"{model.ToLowerInvariant()}-seed{seed}{generation}");
        if (!File.Exists(Path.Combine(directory, "config.json")))
        {
            LogGenerating(logger, model, directory);
        }

        return await ModelWriter.EnsureAsync(directory, preset, seed, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Generating the '{Preset}' model into {Directory} (once)")]
    private static partial void LogGenerating(ILogger logger, string preset, string directory);
}
