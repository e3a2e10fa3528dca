using System.CommandLine;

namespace Dynamo.Cli.Commands;

/// <summary>
/// Command-line flags that each set one configuration key (<c>--port</c> sets <c>Dynamo:Gateway:Port</c>), so a flag,
/// an environment variable and a YAML key are the same setting at different precedence.
/// </summary>
internal sealed class ConfigFlags
{
    private readonly List<(Option<string?> Option, string Key)> _flags = [];

    public ConfigFlags Add(string name, string key, string description)
    {
        _flags.Add((new Option<string?>(name) { Description = description }, key));
        return this;
    }

    public void AddTo(Command command)
    {
        foreach (var (option, _) in _flags)
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The keys of the flags given on this command line.</summary>
    public Dictionary<string, string?> Values(ParseResult parse)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (option, key) in _flags)
        {
            if (parse.GetValue(option) is { } value)
            {
                values[key] = value;
            }
        }

        return values;
    }
}
