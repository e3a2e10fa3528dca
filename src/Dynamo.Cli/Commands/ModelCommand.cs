using System.CommandLine;
using Dynamo.Cli.Hosting;
using Dynamo.Engine.Model;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo model init --out DIR [--preset tiny|small|100m] [--seed N] [--force]</c>. A folder that already holds
/// files is left alone (exit 1, naming it) unless <c>--force</c> says to overwrite the model files in it.
/// </summary>
internal static class ModelCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Folder to write the model into.", Required = true };
        var preset = new Option<string>("--preset") { Description = "tiny, small or 100m.", DefaultValueFactory = _ => "tiny" };
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 0 };
        var force = new Option<bool>("--force") { Description = "Write into a folder that already holds files (the model's files are overwritten; others are left)." };
        var init = new Command("init", "Write a Llama-family model (config.json, model.safetensors, tokenizer files) with seeded random weights.")
        {
            output, preset, seed, force,
        };
        init.SetAction(async (parse, cancellationToken) =>
        {
            var presetName = parse.GetValue(preset)!;
            if (!ModelResolver.TryParsePreset(presetName, out var parsed))
            {
                Console.Error.WriteLine($"--preset '{presetName}': expected tiny, small or 100m.");
                return 1;
            }

            var directory = Path.GetFullPath(parse.GetValue(output)!);
            if (File.Exists(directory))
            {
                Console.Error.WriteLine($"dynamo model init: --out {directory}: is a file; name a folder (new or empty).");
                return 1;
            }

            if (!parse.GetValue(force) && Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
            {
                Console.Error.WriteLine($"dynamo model init: --out {directory}: the folder is not empty; name a new or empty folder, or add --force to overwrite the model files in it.");
                return 1;
            }

            await ModelWriter.WriteAsync(directory, parsed, parse.GetValue(seed), cancellationToken: cancellationToken);
            Console.WriteLine($"Wrote the {presetName} model to {directory}");
            return 0;
        });

        var model = new Command("model", "Model files.");
        model.Subcommands.Add(init);
        return model;
    }
}
