using System.Runtime.InteropServices;

namespace Dynamo.DevCluster.Node;

/// <summary>POSIX signals to a process id (SIGTERM for a graceful stop, SIGKILL; a negative id is a process group).</summary>
internal static partial class Signals
{
    public const int SigTerm = 15;
    public const int SigKill = 9;

    public static bool Send(int pid, int signal) => !OperatingSystem.IsWindows() && SendSignal(pid, signal) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);
}
