using System.Security.Cryptography;
using Dynamo.Runtime.Security;

namespace Dynamo.Runtime.Tests.Infrastructure;

/// <summary>
/// The cluster secret of the test deployments: in-process hosts use <see cref="Secret"/>, <c>dynamo</c> processes
/// get <c>--cluster-secret-file</c> <see cref="File"/> (written once per test run, mode 600).
/// </summary>
internal static class TestSecret
{
    private static readonly Lazy<string> Written = new(() =>
    {
        var directory = Path.Combine(Path.GetTempPath(), "dynamo-tests");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"cluster-{Guid.NewGuid():N}.secret");
        System.IO.File.WriteAllText(path, Text + "\n");
        if (!OperatingSystem.IsWindows())
        {
            System.IO.File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return path;
    });

    public static string Text { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static ClusterSecret Secret { get; } = ClusterSecret.FromText(Text, "test secret");

    /// <summary>A file holding <see cref="Text"/>, for <c>--cluster-secret-file</c>.</summary>
    public static string File => Written.Value;

    /// <summary>An HTTP client that signs its requests as a frontend of the test deployment does.</summary>
    public static HttpClient WorkerClient(Uri address, TimeSpan timeout) =>
        new(new ClusterCredentialHandler(Secret, new SocketsHttpHandler())) { BaseAddress = address, Timeout = timeout };
}
