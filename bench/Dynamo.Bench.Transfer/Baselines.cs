using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Dynamo.Bench.Transfer;

/// <summary>The reference tools run in the same process lifetime as the backends: <c>ucx_perftest</c> and <c>iperf3</c>.</summary>
internal static partial class Baselines
{
    /// <summary>
    /// <c>ucx_perftest</c> server and client on loopback; returns bandwidth in GB/s (10^9 bytes) and the p50 latency
    /// in µs, or null when the tool is missing or fails. <paramref name="test"/> is <c>ucp_get</c> or <c>ucp_put_bw</c>.
    /// </summary>
    public static (double GBs, double P50Us)? UcxPerftest(string test, long size, int iterations, string? tls)
    {
        if (!OnPath("ucx_perftest"))
        {
            return null;
        }

        var port = FreePort();
        var env = tls is null ? null : new Dictionary<string, string> { ["UCX_TLS"] = tls };
        using var server = Start("ucx_perftest", $"-p {port}", env);
        try
        {
            // The server takes a moment to listen; the client retries its connection.
            for (var attempt = 0; attempt < 20; attempt++)
            {
                var (exit, output) = Run("ucx_perftest", $"127.0.0.1 -p {port} -t {test} -s {size} -n {iterations}", env, TimeSpan.FromSeconds(120));
                var final = FinalLine().Match(output);
                if (exit == 0 && final.Success)
                {
                    var numbers = final.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                    // iterations, p50 latency, avg latency, overall latency, avg MB/s, overall MB/s, avg msg/s, overall msg/s
                    return (numbers[5] * 1024 * 1024 / 1e9, numbers[1]);
                }

                Thread.Sleep(250);
            }

            return null;
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill();
            }
        }
    }

    /// <summary><c>iperf3</c> on loopback, one stream, for <paramref name="seconds"/>; received GB/s, or null.</summary>
    public static double? Iperf3(double seconds)
    {
        if (!OnPath("iperf3"))
        {
            return null;
        }

        var port = FreePort();
        using var server = Start("iperf3", $"-s -1 -p {port}", null);
        try
        {
            for (var attempt = 0; attempt < 20; attempt++)
            {
                var (exit, output) = Run("iperf3", $"-c 127.0.0.1 -p {port} -t {seconds.ToString(CultureInfo.InvariantCulture)} -J", null, TimeSpan.FromSeconds(seconds + 30));
                if (exit == 0)
                {
                    using var json = JsonDocument.Parse(output);
                    return json.RootElement.GetProperty("end").GetProperty("sum_received").GetProperty("bits_per_second").GetDouble() / 8 / 1e9;
                }

                Thread.Sleep(250);
            }

            return null;
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill();
            }
        }
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));

    private static int FreePort()
    {
        using var probe = new Socket(SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private static Process Start(string tool, string arguments, Dictionary<string, string>? env)
    {
        var info = new ProcessStartInfo(tool, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in env ?? [])
        {
            info.Environment[k] = v;
        }

        var process = Process.Start(info)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static (int Exit, string Output) Run(string tool, string arguments, Dictionary<string, string>? env, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(tool, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in env ?? [])
        {
            info.Environment[k] = v;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill();
            return (-1, "");
        }

        return (process.ExitCode, stdout.GetAwaiter().GetResult() + stderr.GetAwaiter().GetResult());
    }

    [GeneratedRegex(@"Final:\s+([0-9.\s]+)")]
    private static partial Regex FinalLine();
}
