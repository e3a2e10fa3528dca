using System.Diagnostics;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// The gateway checked by the official <c>openai</c> npm package (completions, streams, chat, models, errors, a strict
/// json_schema response_format),
/// installed by the test command into tests/clients/node.
/// </summary>
public sealed class NodeClientTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task OpenAiNodeClient_PassesItsChecks()
    {
        var dir = FindClientDir();
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "openai")),
            $"The openai npm package is not installed in {dir}; the test command runs 'npm ci' there.");

        var start = new ProcessStartInfo("node", "check.mjs")
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DYNAMO_BASE_URL"] = new Uri(fixture.Cluster.Address, "v1").ToString();
        start.Environment["DYNAMO_MODEL"] = fixture.Cluster.Model;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);

        Assert.True(process.ExitCode == 0, $"node check.mjs failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        Assert.Contains("\"ok\":true", await stdout);
    }

    private static string FindClientDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "clients", "node");
            if (File.Exists(Path.Combine(candidate, "check.mjs")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("tests/clients/node not found above " + AppContext.BaseDirectory);
    }
}
