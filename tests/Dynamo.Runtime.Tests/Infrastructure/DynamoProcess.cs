using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>
/// A real <c>dynamo</c> process (the CLI built beside the tests), with its output captured. Ends with SIGKILL
/// (<see cref="Kill"/>), as <c>kill -9</c> does, SIGTERM (<see cref="Terminate"/>), as an orchestrator does, or
/// SIGINT (<see cref="Interrupt"/>), as Ctrl-C does.
/// </summary>
/// <remarks>
/// The child does not inherit the test run's signal dispositions: a run launched from <c>nohup … &amp;</c>, a script's
/// background job or a CI wrapper has SIGINT (and maybe more) ignored, and a child would keep that. It starts through
/// <c>env</c> (coreutils) with SIGHUP, SIGINT, SIGQUIT and SIGTERM at their defaults, as a terminal's foreground job
/// has them, or with the ones a case names ignored. The configuration it sees is the case's: inherited
/// <c>DYNAMO__</c> variables are removed.
/// </remarks>
internal sealed partial class DynamoProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<(Regex Pattern, TaskCompletionSource<Match> Found)> _waits = [];

    private DynamoProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <param name="args">The verb and its flags.</param>
    /// <param name="environment">Variables to set (on top of the test run's, less its <c>DYNAMO__</c> ones).</param>
    /// <param name="ignoring">Signals the child starts with ignored, as a parent could leave them; none by default.</param>
    public static DynamoProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, params PosixSignal[] ignoring)
    {
        var info = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add("--default-signal=HUP,INT,QUIT,TERM");
        if (ignoring.Length > 0)
        {
            info.ArgumentList.Add("--ignore-signal=" + string.Join(',', ignoring.Select(SignalName)));
        }

        info.ArgumentList.Add("dotnet");
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "dynamo.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("DYNAMO__", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(name);
        }

        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var process = new DynamoProcess(new Process { StartInfo = info, EnableRaisingEvents = true });
        process._process.OutputDataReceived += (_, e) => process.OnLine(e.Data);
        process._process.ErrorDataReceived += (_, e) => process.OnLine(e.Data);
        process._process.Start();
        process._process.BeginOutputReadLine();
        process._process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Waits for an output line matching <paramref name="pattern"/> (already printed or still to come).</summary>
    public async Task<Match> WaitForLineAsync(string pattern, TimeSpan timeout)
    {
        var regex = new Regex(pattern);
        var found = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_output)
        {
            foreach (var line in _output.ToString().Split('\n'))
            {
                if (regex.Match(line) is { Success: true } match)
                {
                    return match;
                }
            }

            _waits.Add((regex, found));
        }

        try
        {
            return await found.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"dynamo (pid {Id}) printed no line matching '{pattern}' within {timeout.TotalSeconds:F0} s:\n{Output}");
            throw;
        }
    }

    public void Kill() => _process.Kill(entireProcessTree: true);

    public void Terminate() => Signal(15, "TERM");

    public void Interrupt() => Signal(2, "INT");

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"dynamo (pid {Id}) did not exit within {timeout.TotalSeconds:F0} s:\n{Output}");
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);

    private static string SignalName(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGHUP => "HUP",
        PosixSignal.SIGINT => "INT",
        PosixSignal.SIGQUIT => "QUIT",
        PosixSignal.SIGTERM => "TERM",
        _ => throw new ArgumentOutOfRangeException(nameof(signal), signal, "a signal a parent would leave ignored: HUP, INT, QUIT or TERM"),
    };

    private void Signal(int number, string name)
    {
        // env has exec'd dotnet by the time the process printed anything, so the pid is dynamo's.
        if (SendSignal(_process.Id, number) != 0)
        {
            throw new InvalidOperationException($"kill -{name} {_process.Id} failed: errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
            for (var i = _waits.Count - 1; i >= 0; i--)
            {
                if (_waits[i].Pattern.Match(line) is { Success: true } match)
                {
                    _waits[i].Found.TrySetResult(match);
                    _waits.RemoveAt(i);
                }
            }
        }
    }
}
