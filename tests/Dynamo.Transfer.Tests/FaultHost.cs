using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dynamo.Transfer.Tests;

/// <summary>
/// Runs a <see cref="FaultScenario"/> in a child process: this test assembly started again with
/// <c>dotnet Dynamo.Transfer.Tests.dll fault-scenario NAME BACKEND PEER_FAILURE_HANDLING TIMEOUT_S</c>, which writes
/// the <see cref="FaultReport"/> as JSON to the file <see cref="ReportFileVariable"/> names (and prints it after
/// <see cref="ReportMarker"/> for a person running it by hand). An abort inside libucp then ends
/// the child, not the test run, and the test fails with the child's exit status and output.
/// </summary>
public static class FaultHost
{
    public const string Verb = "fault-scenario";
    public const string ReportMarker = "DYNAMO-FAULT-REPORT ";

    /// <summary>Names the file the child writes its report to (set for the child only).</summary>
    public const string ReportFileVariable = "DYNAMO_FAULT_REPORT_FILE";

    /// <summary>How long a child may run; its scenario waits at most 30 s for any one step.</summary>
    private static readonly TimeSpan ChildLimit = TimeSpan.FromSeconds(120);

    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>The child's entry point (the test host never calls it).</summary>
    public static int Main(string[] args)
    {
        if (args.Length != 5 || args[0] != Verb)
        {
            Console.Error.WriteLine($"usage: dotnet Dynamo.Transfer.Tests.dll {Verb} SCENARIO inprocess|tcp|ucx true|false TIMEOUT_SECONDS");
            Console.Error.WriteLine($"  SCENARIO: {string.Join(", ", Enum.GetNames<FaultScenario>())}");
            return 2;
        }

        var scenario = Enum.Parse<FaultScenario>(args[1]);
        var kind = args[2] switch
        {
            "inprocess" => TransferBackendKind.InProcess,
            "tcp" => TransferBackendKind.Tcp,
            "ucx" => TransferBackendKind.Ucx,
            _ => throw new ArgumentException($"unknown backend '{args[2]}' (inprocess, tcp or ucx)"),
        };
        var clock = Stopwatch.StartNew();
        FaultScenarios.Trace = what => Console.Error.WriteLine($"[{args[1]} {clock.ElapsedMilliseconds,6} ms] {what}");
        var report = FaultScenarios.RunAsync(scenario, kind, bool.Parse(args[3]), TimeSpan.FromSeconds(int.Parse(args[4]))).GetAwaiter().GetResult();
        // UCX writes its log lines to stdout through C stdio buffers that flush in blocks, mid-line, so the report
        // goes to a file of its own when the parent names one.
        var json = JsonSerializer.Serialize(report, Json);
        if (Environment.GetEnvironmentVariable(ReportFileVariable) is { Length: > 0 } reportFile)
        {
            File.WriteAllText(reportFile, json);
        }

        Console.Out.WriteLine(ReportMarker + json);
        Console.Out.Flush();
        FaultScenarios.Trace("done: every agent stopped");
        return 0;
    }

    /// <summary>
    /// An abort inside UCX 1.13.1 (Debian 12's libucx0, built with assertions) that is a defect of UCX, not of this
    /// code, seen in the fault scenarios (runs of 2026-12-05, see src/Dynamo.Transfer/README.md); a child that dies with one
    /// is run again, up to <see cref="Attempts"/> times.
    /// </summary>
    /// <param name="Signature">Text of UCX's fatal message in the child's output.</param>
    /// <param name="Mode">Peer failure handling it happens with.</param>
    /// <param name="What">Where it happens and why it is UCX's.</param>
    public sealed record KnownUcxAbort(string Signature, bool Mode, string What);

    public static readonly KnownUcxAbort[] KnownUcxAborts =
    [
        new("tcp_ep.c:478  Assertion `!(ep->flags & UCT_TCP_EP_FLAG_CTX_TYPE_TX)' failed", true,
            "ucp_worker_progress in the agent that stays, after its peer stopped while their TCP connection was being wired up (the peer's listener "
            + "refused the connection): UCX's TCP transport fails an assertion in its own error path, with no call of ours in between but progress "
            + "and request polling; 1 of 45 runs of PeerGoneDuringTransfers"),
        new("ucp_request.c:684  Assertion `(req->send.wireup.type == UCP_WIREUP_MSG_EP_REMOVED)", true,
            "ucp_worker_destroy of the agent being stopped while a peer's connection was being wired up: purging the queued wire-up REP message fails "
            + "an assertion that UCX removed upstream as wrong (openucx/ucx pull request 8175); 2 of 45 runs of PeerGoneDuringTransfers"),
        new("stubs.c:102  Assertion `0' failed", true,
            "ucp_worker_progress while the agents stop after cancelled transfers force-closed their endpoint (UCP_EP_CLOSE_FLAG_FORCE, which UCX "
            + "documents as completing outstanding requests as cancelled when both sides use UCP_ERR_HANDLING_MODE_PEER, as here): destroying a TCP "
            + "endpoint finds a request still queued on it, and its purge callback is UCX's assert-stub; 2 of 45 runs of Cancel"),
    ];

    private const int Attempts = 3;

    /// <summary>
    /// Runs the scenario: in a child process on UCX, in this process on the other backends (they run no native code).
    /// Fails the test, with the child's exit status, stdout and stderr, when the child dies, exits non-zero, runs past
    /// its limit or reports nothing; a child killed by one of <see cref="KnownUcxAborts"/> is run again, and when every
    /// attempt dies that way the test is skipped naming the UCX defect, never passed.
    /// </summary>
    public static async Task<FaultReport> RunAsync(FaultScenario scenario, TransferBackendKind kind, bool peerFailureHandling = true, int timeoutSeconds = 5,
        Action<string>? log = null)
    {
        if (kind != TransferBackendKind.Ucx)
        {
            return await FaultScenarios.RunAsync(scenario, kind, peerFailureHandling, TimeSpan.FromSeconds(timeoutSeconds));
        }

        var what = $"fault scenario {scenario} on {Backends.OptionName(kind)} (peer failure handling {(peerFailureHandling ? "on" : "off")})";
        var known = new List<KnownUcxAbort>();
        for (var attempt = 1; attempt <= Attempts; attempt++)
        {
            var run = await RunChildAsync(scenario, kind, peerFailureHandling, timeoutSeconds);
            if (run.TimedOut)
            {
                Assert.Fail($"The child running {what} did not end within {ChildLimit.TotalSeconds:F0} s and was killed.\n{run.Output}");
            }

            if (run.ExitCode != 0)
            {
                var abort = run.ExitCode == 134
                    ? KnownUcxAborts.FirstOrDefault(k => k.Mode == peerFailureHandling && (run.Stdout + run.Stderr).Contains(k.Signature, StringComparison.Ordinal))
                    : null;
                if (abort is null)
                {
                    Assert.Fail($"The child running {what} exited with {Describe(run.ExitCode)}.\n{run.Output}");
                }

                known.Add(abort);
                log?.Invoke($"attempt {attempt}: the child running {what} died of a known UCX 1.13.1 abort ({abort.What}); running it again.\n{run.Output}");
                continue;
            }

            if (run.Report is null)
            {
                Assert.Fail($"The child running {what} exited 0 without a report.\n{run.Output}");
            }

            return JsonSerializer.Deserialize<FaultReport>(run.Report, Json)
                ?? throw new InvalidOperationException($"The child running {what} wrote an empty report.");
        }

        throw new SkipException($"Every one of {Attempts} children running {what} died of a known UCX 1.13.1 abort, so nothing was observed: "
            + string.Join("; ", known.Select(k => k.What)));
    }

    /// <summary>The exit status in words: a status above 128 is the child killed by signal status-128 (the runtime's convention).</summary>
    public static string Describe(int exitCode) => exitCode switch
    {
        134 => "status 134 (SIGABRT: an abort, e.g. a failed assertion inside UCX)",
        139 => "status 139 (SIGSEGV)",
        > 128 => $"status {exitCode} (signal {exitCode - 128})",
        _ => $"status {exitCode}",
    };

    internal sealed record ChildRun(int ExitCode, bool TimedOut, string Stdout, string Stderr, string? Report)
    {
        public string Output => $"--- child stdout ---\n{Stdout}\n--- child stderr ---\n{Stderr}";
    }

    internal static async Task<ChildRun> RunChildAsync(FaultScenario scenario, TransferBackendKind kind, bool peerFailureHandling, int timeoutSeconds)
    {
        var assembly = typeof(FaultHost).Assembly.Location;
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(assembly)!,
        };
        foreach (var arg in new[] { assembly, Verb, scenario.ToString(), Backends.OptionName(kind), peerFailureHandling ? "true" : "false", timeoutSeconds.ToString() })
        {
            info.ArgumentList.Add(arg);
        }

        var reportFile = Path.Combine(Path.GetTempPath(), $"dynamo-fault-{Guid.NewGuid():N}.json");
        info.Environment[ReportFileVariable] = reportFile;
        using var process = new Process { StartInfo = info };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } d)
            {
                lock (stdout)
                {
                    stdout.AppendLine(d);
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } d)
            {
                lock (stderr)
                {
                    stderr.AppendLine(d);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var timedOut = false;
        using (var limit = new CancellationTokenSource(ChildLimit))
        {
            try
            {
                await process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }

        string? report = null;
        if (File.Exists(reportFile))
        {
            report = await File.ReadAllTextAsync(reportFile);
            File.Delete(reportFile);
        }

        // WaitForExitAsync returns once the redirected streams reached their end as well.
        lock (stdout)
        {
            lock (stderr)
            {
                return new ChildRun(process.ExitCode, timedOut, stdout.ToString(), stderr.ToString(), report);
            }
        }
    }
}
