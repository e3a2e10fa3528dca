using System.CommandLine;
using Dynamo.Bench.Sweep;
using Dynamo.Bench.Traces;
using Spectre.Console;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo sweep --config FILE --out DIR</c>: a grid of cluster configurations through replay, in parallel and
/// resumable; sweep.csv, Pareto plots and recommended.yaml. Exit codes: 0 done, 1 bad config.
/// </summary>
internal static class SweepCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "Sweep definition (YAML; see configs/sweep.yaml).", Required = true };
        var output = new Option<string>("--out") { Description = "Folder for sweep.csv, points/*.json, pareto_*.png and recommended.yaml.", Required = true };
        var parallel = new Option<int?>("--parallel") { Description = "Replays at once (default: the config's, else the processor count)." };
        var command = new Command("sweep", "Sweep configurations through replay; Pareto report and the recommended configuration.") { config, output, parallel };
        command.SetAction(async (parse, cancellationToken) =>
        {
            SweepConfig sweep;
            try
            {
                sweep = SweepConfig.Load(parse.GetValue(config)!);
            }
            catch (ArgumentException bad)
            {
                Console.Error.WriteLine($"dynamo sweep: {bad.Message}");
                return 1;
            }

            if (parse.GetValue(parallel) is { } p)
            {
                if (p < 1)
                {
                    Console.Error.WriteLine($"dynamo sweep: --parallel must be at least 1 (got {p}).");
                    return 1;
                }

                sweep.Parallel = p;
            }

            try
            {
                await SweepRunner.RunAsync(sweep, parse.GetValue(output)!, AnsiConsole.Console, cancellationToken);
                return 0;
            }
            catch (Exception error) when (error is ArgumentException or TraceFormatException)
            {
                Console.Error.WriteLine($"dynamo sweep: {error.Message}");
                return 1;
            }
        });
        return command;
    }
}
