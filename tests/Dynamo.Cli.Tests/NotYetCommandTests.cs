using System.CommandLine;
using Dynamo.Cli.Commands;

namespace Dynamo.Cli.Tests;

public sealed class NotYetCommandTests
{
    [Theory]
    [InlineData("planner")]
    public async Task Verb_NotYetBuilt_SaysSoAndExits2(string verb)
    {
        var root = new RootCommand();
        foreach (var command in NotYetCommands.Create())
        {
            root.Subcommands.Add(command);
        }

        var error = new StringWriter();
        var original = Console.Error;
        Console.SetError(error);
        int code;
        try
        {
            code = await root.Parse([verb, "--nats", "nats://127.0.0.1:4222"]).InvokeAsync();
        }
        finally
        {
            Console.SetError(original);
        }

        Assert.Equal(2, code);
        Assert.Contains("not available yet", error.ToString());
    }
}
