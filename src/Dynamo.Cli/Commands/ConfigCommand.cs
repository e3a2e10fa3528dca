using System.CommandLine;
using Dynamo.Cli.Configuration;
using Microsoft.Extensions.Configuration;

namespace Dynamo.Cli.Commands;

/// <summary>
/// <c>dynamo config reference</c>: every configuration key with its type, default and description (Markdown, the
/// source of <c>docs/configuration.md</c>). <c>dynamo config check --config FILE</c>: reads a file, the environment
/// and the flags as <c>serve</c> would and says whether every section is valid, without starting anything.
/// </summary>
internal static class ConfigCommand
{
    public static Command Create()
    {
        var output = new Option<string?>("--out") { Description = "Write the reference to this file instead of standard output." };
        var reference = new Command("reference", "Print every configuration key: type, default and description (Markdown).") { output };
        reference.SetAction(parse =>
        {
            var markdown = ConfigurationReference.Markdown();
            if (parse.GetValue(output) is { } path)
            {
                File.WriteAllText(path, markdown);
                Console.WriteLine($"Wrote the configuration reference to {Path.GetFullPath(path)}");
            }
            else
            {
                Console.Write(markdown);
            }

            return 0;
        });

        var file = new Option<string?>("--config") { Description = "YAML configuration file (keys under Dynamo:)." };
        var check = new Command("check", "Check a configuration (file, DYNAMO__ environment variables) without starting anything; exit 1 naming each problem.") { file };
        check.SetAction(parse => Check(parse.GetValue(file)));

        var command = new Command("config", "Configuration keys and checks.");
        command.Subcommands.Add(reference);
        command.Subcommands.Add(check);
        return command;
    }

    private static int Check(string? path)
    {
        var problems = new List<string>();
        DynamoConfiguration configuration;
        try
        {
            configuration = DynamoConfiguration.Build(path, new Dictionary<string, string?>());
            ClusterSettings.CheckSections(configuration);
        }
        catch (ConfigurationException error)
        {
            Console.Error.WriteLine($"dynamo config check: {error.Message}");
            return 1;
        }

        // Every section, each on its own so that one bad section does not hide the others' problems.
        Action[] sections =
        [
            () => configuration.Serve(),
            () => configuration.Gateway(),
            () => configuration.Router(),
            () => configuration.Transfer(),
            () => configuration.KvTransfer(),
            () => configuration.ClusterSecret(),
            () => configuration.Nats(),
            () => configuration.Worker(),
            () => configuration.Bind<Engine.Mocker.MockerOptions>("Dynamo:Mocker"),
            () => configuration.Bind<Engine.DotnetEngineOptions>("Dynamo:Engine"),
            () =>
            {
                // The planner's section is checked when present; its profile is read when the planner starts.
                if (configuration.Root.GetSection(Planner.PlannerOptions.SectionName).Exists())
                {
                    var options = configuration.Bind<Planner.PlannerOptions>(Planner.PlannerOptions.SectionName);
                    DynamoConfiguration.ThrowIfAny([.. options.Problems(requireProfile: false)]);
                }
            },
        ];
        foreach (var section in sections)
        {
            try
            {
                section();
            }
            catch (ConfigurationException error)
            {
                problems.Add(error.Message);
            }
        }

        if (problems.Count > 0)
        {
            Console.Error.WriteLine($"dynamo config check: {(path is null ? "the configuration" : path)} has {problems.Count} invalid section{(problems.Count == 1 ? "" : "s")}:");
            foreach (var problem in problems)
            {
                Console.Error.WriteLine(problem);
            }

            return 1;
        }

        Console.WriteLine($"dynamo config check: {(path is null ? "the configuration" : path)} is valid.");
        return 0;
    }
}
