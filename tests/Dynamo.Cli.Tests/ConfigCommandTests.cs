using Dynamo.Cli.Configuration;

namespace Dynamo.Cli.Tests;

/// <summary>
/// <c>dynamo config reference</c> and <c>docs/configuration.md</c>: the committed reference is what the options classes
/// say today (a key added, renamed or re-defaulted without regenerating it fails here), and every key it lists is one
/// the strict binder accepts. <c>dynamo config check</c> reads a file as the processes would, starting nothing.
/// </summary>
public sealed class ConfigCommandTests : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-config-cmd-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void CommittedReference_IsTheGeneratedOne()
    {
        var committed = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "configuration.md"));
        var generated = ConfigurationReference.Markdown();

        Assert.True(
            committed.ReplaceLineEndings("\n") == generated,
            "docs/configuration.md differs from the options classes; regenerate it with: dotnet run -c Release --project src/Dynamo.Cli -- config reference --out docs/configuration.md");
    }

    [Fact]
    public void Reference_ListsEverySectionsKeys_WithTypeDefaultAndDescription()
    {
        var markdown = ConfigurationReference.Markdown();

        Assert.Contains("| `Dynamo:Gateway:Port` | a whole number | `8000` | Port of the OpenAI endpoint", markdown, StringComparison.Ordinal);
        Assert.Contains("| `Dynamo:Gateway:QueueTimeout` | a time span such as 00:00:30 (hh:mm:ss) | `00:00:30` |", markdown, StringComparison.Ordinal);
        Assert.Contains("| `Dynamo:Gateway:Auth:Keys:N:Key` |", markdown, StringComparison.Ordinal);
        foreach (var (name, _, _) in ConfigurationReference.Sections)
        {
            Assert.Contains($"## `Dynamo:{name}`", markdown, StringComparison.Ordinal);
        }

        // Secrets have no default to show, and none is ever printed.
        Assert.Contains("| `Dynamo:Nats:Password` | text | none |", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryKeyInTheReference_IsAcceptedByTheStrictBinder()
    {
        var keys = ConfigurationReference.Markdown().Split('\n')
            .Where(line => line.StartsWith("| `Dynamo:", StringComparison.Ordinal))
            .Select(line => line.Split('`')[1].Replace(":N:", ":0:", StringComparison.Ordinal))
            .ToList();
        Assert.True(keys.Count > 100, $"only {keys.Count} keys in the reference");
        foreach (var (name, type, _) in ConfigurationReference.Sections)
        {
            var section = $"Dynamo:{name}";
            var values = keys.Where(k => k.StartsWith(section + ":", StringComparison.Ordinal)).ToDictionary(k => k, _ => (string?)null);
            var configuration = DynamoConfiguration.Build(null, values, new Dictionary<string, string?>());

            Assert.Empty(StrictBinding.Problems(configuration.Root.GetSection(section), type));
        }
    }

    [Fact]
    public async Task ConfigReference_PrintsTheReference_AndWritesItWithOut()
    {
        var printed = await CliRun.RunAsync(["config", "reference"], Budget);
        var file = Path.Combine(_dir, "configuration.md");
        var written = await CliRun.RunAsync(["config", "reference", "--out", file], Budget);

        Assert.True(printed.ExitCode == 0, printed.ToString());
        Assert.StartsWith("# Configuration reference", printed.Stdout, StringComparison.Ordinal);
        Assert.True(written.ExitCode == 0, written.ToString());
        Assert.Equal(printed.Stdout, await File.ReadAllTextAsync(file));
    }

    [Fact]
    public async Task ConfigCheck_ValidFile_Exits0_BadFile_Exits1NamingEveryProblem()
    {
        var good = await CliRun.RunAsync(["config", "check", "--config", Path.Combine(RepositoryRoot(), "configs", "agg.yaml")], Budget);
        Assert.True(good.ExitCode == 0, good.ToString());
        Assert.Contains("is valid", good.Stdout, StringComparison.Ordinal);

        var path = Path.Combine(_dir, "bad.yaml");
        await File.WriteAllTextAsync(path, "Dynamo:\n  Gateway:\n    Prot: 8000\n  Worker:\n    DrainTimeout: soon\n");
        var bad = await CliRun.RunAsync(["config", "check", "--config", path], Budget);

        CliRun.AssertUsageError(bad, 1, $"dynamo config check: {path} has 2 invalid sections:", "Dynamo:Gateway:Prot: unknown key (did you mean Port?)", "Dynamo:Worker:DrainTimeout = 'soon': expected a time span");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Dynamo.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("the tests run outside the repository (no Dynamo.sln above " + AppContext.BaseDirectory + ")");
    }
}
