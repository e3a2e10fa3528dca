using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Hosting;

internal static partial class Logging
{
    public static ILoggerFactory CreateFactory() => LoggerFactory.Create(builder => builder
        .AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        })
        .SetMinimumLevel(LogLevel.Information)
        .AddFilter("Microsoft.AspNetCore", LogLevel.Warning)
        .AddFilter("Microsoft.Hosting", LogLevel.Warning)
        .AddFilter("Yarp", LogLevel.Warning));

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster secret {Fingerprint} (from {Source}): workers accept only requests made with it, and NATS records must be signed with it")]
    public static partial void ClusterSecret(ILogger logger, string fingerprint, string source);

    [LoggerMessage(Level = LogLevel.Warning, Message = "--insecure: {Exposure}")]
    public static partial void InsecureNats(ILogger logger, string exposure);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: in-flight requests get up to {Seconds} s to finish")]
    public static partial void Stopping(ILogger logger, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SIGINT is ignored, as the parent process left it (a background job of a script does): Ctrl-C does not stop this process; SIGTERM (kill {ProcessId}) stops it with the same drain")]
    public static partial void SigIntIgnored(ILogger logger, int processId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Planner: the frontends' metrics cannot be read yet ({Reason}); the pools are held until they answer")]
    public static partial void PlannerFrontendsUnreachable(ILogger logger, string reason);
}
