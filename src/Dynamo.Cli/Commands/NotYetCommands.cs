using System.CommandLine;

namespace Dynamo.Cli.Commands;

/// <summary>
/// Verbs of the design's CLI surface whose issues have not landed. They exist so the surface is stable and
/// each says plainly that it is not available yet (exit code 2), instead of doing something else.
/// </summary>
internal static class NotYetCommands
{
    private static readonly (string Name, string Description, string Issue)[] Verbs =
    [
        ("planner", "Rescale prefill and decode pools from load telemetry.", "planner"),
    ];

    public static IEnumerable<Command> Create()
    {
        foreach (var (name, description, issue) in Verbs)
        {
            var command = new Command(name, description + " (not available yet)") { TreatUnmatchedTokensAsErrors = false };
            command.SetAction(parse =>
            {
                Console.Error.WriteLine($"dynamo {name}: not available yet; it arrives with the {issue} work. Use 'dynamo serve' for the embedded cluster.");
                return 2;
            });
            yield return command;
        }
    }
}
