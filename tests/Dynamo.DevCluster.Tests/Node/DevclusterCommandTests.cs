using System.Net;
using System.Net.Sockets;
using Dynamo.DevCluster.Tests.Infrastructure;
using Dynamo.Runtime.Tests.Infrastructure;

namespace Dynamo.DevCluster.Tests.Node;

/// <summary><c>dynamo devcluster</c> as a process: kubectl works against the kubeconfig it writes; a pod runs; SIGTERM stops it all.</summary>
public sealed class DevclusterCommandTests
{
    [Fact]
    public async Task Devcluster_WritesAKubeconfig_RunsPods_AndStopsThemOnSigterm()
    {
        var dir = Path.Combine(Path.GetTempPath(), "dynamo-devcluster-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var kubeconfig = Path.Combine(dir, "kubeconfig");
        await using var process = DynamoProcess.Start(["devcluster", "--port", "0", "--kubeconfig", kubeconfig, "--data-dir", Path.Combine(dir, "data")], new Dictionary<string, string>());
        await process.WaitForLineAsync("Kubeconfig written to", TimeSpan.FromSeconds(30));
        await process.WaitForLineAsync("kubectl get pods", TimeSpan.FromSeconds(5));

        var manifest = Path.Combine(dir, "pod.yaml");
        await File.WriteAllTextAsync(manifest, """
            apiVersion: v1
            kind: Pod
            metadata:
              name: sleeper
            spec:
              terminationGracePeriodSeconds: 5
              containers:
              - name: main
                image: busybox
                command: [sh, -c, "echo hello from the pod; sleep 600"]
            """);
        var apply = await Kubectl.RunAsync(kubeconfig, dir, "apply", "-f", manifest);
        Assert.True(apply.ExitCode == 0, apply.All);
        var wait = await Kubectl.RunAsync(kubeconfig, dir, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=30s");
        Assert.True(wait.ExitCode == 0, wait.All + process.Output);
        var logs = Directory.GetFiles(Path.Combine(dir, "data", "pods"), "main.log", SearchOption.AllDirectories);
        Assert.Contains("hello from the pod", await File.ReadAllTextAsync(Assert.Single(logs)));
        var sleeperPid = Directory.GetDirectories("/proc").Select(d => Path.GetFileName(d)).Where(n => n.All(char.IsDigit))
            .Select(int.Parse).Single(pid => ReadCmdline(pid).Contains("hello from the pod", StringComparison.Ordinal));

        process.Terminate();
        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.False(TestCluster.IsAlive(sleeperPid), "the pod's process stopped with the cluster");
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task Devcluster_OnAPortInUse_SaysSo_WithoutAStackTrace()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var dir = Path.Combine(Path.GetTempPath(), "dynamo-devcluster-tests", Guid.NewGuid().ToString("N"));
        await using var process = DynamoProcess.Start(["devcluster", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--kubeconfig", Path.Combine(dir, "kubeconfig")], new Dictionary<string, string>());
        Assert.Equal(1, await process.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains($"cannot listen on 127.0.0.1:{port}", process.Output);
        Assert.Contains("Pick another --port", process.Output);
        Assert.DoesNotContain("   at ", process.Output);
    }

    private static string ReadCmdline(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }
}
