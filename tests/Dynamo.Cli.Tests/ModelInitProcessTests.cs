using System.Text.Json.Nodes;
using Dynamo.Llm;

namespace Dynamo.Cli.Tests;

/// <summary><c>dynamo model init</c> as a process: the files it writes, its seed, and its usage errors (exit code 1).</summary>
public sealed class ModelInitProcessTests : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-model-init-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task ModelInit_WritesALoadableModel_WeightsFollowTheSeed_Exits0()
    {
        string first = Path.Combine(_dir, "a"), other = Path.Combine(_dir, "b");
        var runs = await Task.WhenAll(
            CliRun.RunAsync(["model", "init", "--out", first, "--seed", "7", "--preset", "tiny"], Budget),
            CliRun.RunAsync(["model", "init", "--out", other, "--seed", "8"], Budget));

        Assert.All(runs, r => Assert.True(r.ExitCode == 0, r.ToString()));
        Assert.Contains($"Wrote the tiny model to {first}", runs[0].Stdout);
        foreach (var file in new[] { "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json" })
        {
            Assert.True(new FileInfo(Path.Combine(first, file)).Length > 0, file);
        }

        var card = ModelCard.Load(first, "tiny");
        Assert.Equal("tiny", card.Name);
        Assert.Equal("llama", (string?)JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(first, "config.json")))!["model_type"]);
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(first, "config.json")), await File.ReadAllTextAsync(Path.Combine(other, "config.json")));
        Assert.NotEqual(await File.ReadAllBytesAsync(Path.Combine(first, "model.safetensors")), await File.ReadAllBytesAsync(Path.Combine(other, "model.safetensors")));
    }

    [Theory]
    [InlineData(new[] { "--preset", "huge" }, "'huge'")]
    [InlineData(new[] { "--seed", "abc" }, "'abc'")]
    public async Task ModelInit_BadFlagValue_Exits1NamingIt(string[] flags, string mention)
    {
        var result = await CliRun.RunAsync(["model", "init", "--out", Path.Combine(_dir, "x"), .. flags], Budget);

        CliRun.AssertUsageError(result, 1, mention);
        Assert.False(Directory.Exists(Path.Combine(_dir, "x")), "nothing is written on a usage error");
    }

    [Fact]
    public async Task ModelInit_NonEmptyFolder_IsRefusedWithoutForce_AndOverwrittenWithIt()
    {
        var folder = Path.Combine(_dir, "taken");
        Directory.CreateDirectory(folder);
        var mine = Path.Combine(folder, "notes.txt");
        await File.WriteAllTextAsync(mine, "mine");
        await File.WriteAllTextAsync(Path.Combine(folder, "config.json"), "{}");

        var refused = await CliRun.RunAsync(["model", "init", "--out", folder], Budget);

        CliRun.AssertUsageError(refused, 1, folder, "not empty", "--force");
        Assert.Equal("{}", await File.ReadAllTextAsync(Path.Combine(folder, "config.json")));
        Assert.False(File.Exists(Path.Combine(folder, "model.safetensors")), "nothing is written when the folder is refused");

        var forced = await CliRun.RunAsync(["model", "init", "--out", folder, "--force"], Budget);

        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.Equal("tiny", ModelCard.Load(folder, "tiny").Name);
        Assert.Equal("mine", await File.ReadAllTextAsync(mine));
    }

    [Fact]
    public async Task ModelInit_WithoutOut_Exits1NamingTheFlag()
    {
        var result = await CliRun.RunAsync(["model", "init"], Budget);

        CliRun.AssertUsageError(result, 1, "--out");
    }
}
