using System.Diagnostics;
using System.Globalization;

namespace Dynamo.Llm.Tests.Tokenization;

/// <summary>CPU time of the calling thread (Linux: <c>/proc/thread-self/stat</c>); wall time where that is not readable.</summary>
internal static class ThreadCpu
{
    // USER_HZ: the unit of utime and stime, 100 on every Linux the project targets.
    private const double TicksPerSecond = 100;

    public static (TimeSpan Cpu, TimeSpan Wall) Measure<T>(Func<T> work, out T result)
    {
        var watch = Stopwatch.StartNew();
        var before = Read();
        result = work();
        var after = Read();
        watch.Stop();
        return (before is { } b && after is { } a ? a - b : watch.Elapsed, watch.Elapsed);
    }

    private static TimeSpan? Read()
    {
        string stat;
        try
        {
            stat = File.ReadAllText("/proc/thread-self/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / TicksPerSecond);
    }
}
