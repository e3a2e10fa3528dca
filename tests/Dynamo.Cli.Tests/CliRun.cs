using System.Diagnostics;

namespace Dynamo.Cli.Tests;

/// <summary>What one <c>dynamo</c> process did: its exit code and everything it printed.</summary>
internal sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit code {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs the built <c>dynamo</c> CLI (dynamo.dll beside the tests) as a process, the way a user would.</summary>
internal static class CliRun
{
    public static async Task<CliResult> RunAsync(IEnumerable<string> args, TimeSpan timeout, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory ?? "",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "dynamo.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // Spectre would otherwise size its tables to a terminal that is not there.
        start.Environment["COLUMNS"] = "160";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"dynamo {string.Join(' ', start.ArgumentList.Skip(1))} did not exit within {timeout.TotalSeconds:F0} s:\n{await stdout}\n{await stderr}");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>A usage error as the project promises it: the exit code, a message naming the value, and no stack trace.</summary>
    public static void AssertUsageError(CliResult result, int exitCode, params string[] mentions)
    {
        Assert.True(result.ExitCode == exitCode, $"expected exit code {exitCode}: {result}");
        foreach (var mention in mentions)
        {
            Assert.True(result.Stderr.Contains(mention, StringComparison.Ordinal), $"stderr does not mention '{mention}': {result}");
        }

        Assert.DoesNotContain("   at ", result.Stderr + result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", result.Stderr, StringComparison.Ordinal);
    }
}
