using System.Diagnostics;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>Prometheus' own linter over an exposition text (<c>promtool check metrics</c>, Debian package <c>prometheus</c>, installed by scripts/test.sh).</summary>
internal static class Promtool
{
    /// <summary>promtool's exit code and what it said (nothing when the text is clean).</summary>
    public static async Task<(int Exit, string Output)> CheckMetricsAsync(string metrics)
    {
        var start = new ProcessStartInfo("promtool", "check metrics")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("promtool is not installed: scripts/test.sh installs it (Debian package prometheus).", ex);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.StandardInput.WriteAsync(metrics);
            process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, ((await stdout) + (await stderr)).Trim());
        }
    }
}
