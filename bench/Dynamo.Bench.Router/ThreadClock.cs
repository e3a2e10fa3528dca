using System.Runtime.InteropServices;

namespace Dynamo.Bench.Router;

/// <summary>
/// The calling thread's own clock and scheduler counters (Linux): on a shared box, a wall-clock sample that the
/// scheduler interrupted measures the other tenants, not the code. P3 reports both views.
/// </summary>
internal static partial class ThreadClock
{
    private const int RusageThread = 1;
    private const int ClockThreadCpuTime = 3;

    public static bool IsSupported { get; } = OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>Context switches of this thread so far (voluntary + involuntary), or 0 where unsupported.</summary>
    public static long ContextSwitches()
    {
        if (!IsSupported)
        {
            return 0;
        }

        Rusage usage = default;
        return GetRusage(RusageThread, ref usage) == 0 ? usage.Nvcsw + usage.Nivcsw : 0;
    }

    /// <summary>CPU seconds this thread has run, or NaN where unsupported.</summary>
    public static double CpuSeconds()
    {
        if (!IsSupported)
        {
            return double.NaN;
        }

        TimeSpec time = default;
        return ClockGetTime(ClockThreadCpuTime, ref time) == 0 ? time.Seconds + (time.Nanoseconds / 1e9) : double.NaN;
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static partial int GetRusage(int who, ref Rusage usage);

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, ref TimeSpec time);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary>struct rusage on x86-64 Linux: two timevals, then fourteen longs.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Rusage
    {
        public long UtimeSec;
        public long UtimeUsec;
        public long StimeSec;
        public long StimeUsec;
        public long Maxrss;
        public long Ixrss;
        public long Idrss;
        public long Isrss;
        public long Minflt;
        public long Majflt;
        public long Nswap;
        public long Inblock;
        public long Oublock;
        public long Msgsnd;
        public long Msgrcv;
        public long Nsignals;
        public long Nvcsw;
        public long Nivcsw;
    }
}
