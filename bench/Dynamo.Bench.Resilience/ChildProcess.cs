using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Dynamo.Bench.Resilience;

/// <summary>
/// A child process whose output lines are kept with the moment each arrived, so that the time of an event a process
/// logs (a worker leaving discovery, a reconnection) is measured by this program's clock.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<(long At, string Line)> _lines = [];

    private ChildProcess(Process process) => _process = process;

    public string Name { get; private init; } = "";

    public bool HasExited => _process.HasExited;

    public static ChildProcess Start(string name, string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var child = new ChildProcess(new Process { StartInfo = info }) { Name = name };
        child._process.OutputDataReceived += (_, e) => child.OnLine(e.Data);
        child._process.ErrorDataReceived += (_, e) => child.OnLine(e.Data);
        child._process.Start();
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Every line that arrived at or after <paramref name="since"/> (a <see cref="Stopwatch"/> timestamp) and matches.</summary>
    public List<(long At, Match Match)> Lines(Regex pattern, long since = 0)
    {
        lock (_lines)
        {
            return [.. _lines.Where(l => l.At >= since).Select(l => (l.At, pattern.Match(l.Line))).Where(l => l.Item2.Success)];
        }
    }

    /// <summary>Waits for the first line at or after <paramref name="since"/> that matches; its arrival time and match.</summary>
    public async Task<(long At, Match Match)> WaitForLineAsync(string pattern, TimeSpan timeout, long since = 0)
    {
        var regex = new Regex(pattern);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (Lines(regex, since) is [var first, ..])
            {
                return first;
            }

            if (clock.Elapsed > timeout || _process.HasExited)
            {
                throw new TimeoutException($"{Name} printed no line matching '{pattern}' within {timeout.TotalSeconds:F0} s{(_process.HasExited ? " (it exited)" : "")}:\n{Tail()}");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>
    /// SIGKILL, as <c>kill -9</c>, to this process alone: a <c>dotnet</c> child has no children of its own, and walking
    /// the process tree first (<c>/proc</c>) takes hundreds of milliseconds on a loaded machine, which would count as
    /// detection time.
    /// </summary>
    public void Kill() => _process.Kill();

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private string Tail()
    {
        lock (_lines)
        {
            return string.Join('\n', _lines.TakeLast(20).Select(l => l.Line));
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        var at = Stopwatch.GetTimestamp();
        lock (_lines)
        {
            _lines.Add((at, line));
        }
    }
}
