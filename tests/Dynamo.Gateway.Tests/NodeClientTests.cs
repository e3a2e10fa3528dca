using System.Diagnostics;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// The gateway checked by clients no one here wrote, installed by the test command into tests/clients/node: the official
/// <c>openai</c> npm package (completions, streams, chat, a strict json_schema response_format, Responses, models,
/// errors), the Vercel AI SDK and LangChain JS.
/// </summary>
public sealed class NodeClientTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public Task OpenAiNodeClient_PassesItsChecks() => RunAsync("check.mjs", "openai");

    /// <summary>The Vercel AI SDK (generateText/streamText with the default provider call, the Responses API) and LangChain JS (invoke and stream, chat and Responses).</summary>
    [Fact]
    public Task AgentFrameworks_PassTheirChecks() => RunAsync("agents.mjs", "ai");

    private async Task RunAsync(string script, string package)
    {
        var dir = FindClientDir();
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", package)),
            $"The {package} npm package is not installed in {dir}; the test command runs 'npm ci' there.");

        var start = new ProcessStartInfo("node", script)
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

        Assert.True(process.ExitCode == 0, $"node {script} failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        Assert.Contains("\"ok\":true", await stdout);
    }

    internal static string FindClientDir()
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
