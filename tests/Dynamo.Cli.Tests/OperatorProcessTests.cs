using System.Text.Json.Nodes;
using Dynamo.DevCluster;
using Dynamo.Operator.Client;
using Dynamo.Operator.Schema;
using Dynamo.Runtime.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Dynamo.Cli.Tests;

/// <summary><c>dynamo operator</c> as a process: against the one-machine API server, its CRD writer, its refusals. The operator's parts are tested in Dynamo.Operator.Tests.</summary>
public sealed class OperatorProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Crds_WritesTheCheckedInFiles()
    {
        var dir = Path.Combine(Path.GetTempPath(), "dynamo-crds-" + Guid.NewGuid().ToString("N"));
        try
        {
            var result = await CliRun.RunAsync(["operator", "crds", "--out", dir], Timeout);

            Assert.True(result.ExitCode == 0, result.ToString());
            var root = RepoRoot();
            foreach (var name in new[] { "dynamo.dotnet.dev_dynamographdeployments.yaml", "dynamo.dotnet.dev_dynamographdeploymentscalingadapters.yaml" })
            {
                Assert.Equal(File.ReadAllText(Path.Combine(root, "operators", "crds", name)), File.ReadAllText(Path.Combine(dir, name)));
            }
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task MissingKubeconfig_Exits1NamingTheFile()
    {
        var result = await CliRun.RunAsync(["operator", "--kubeconfig", "/nonexistent/kubeconfig"], Timeout);

        CliRun.AssertUsageError(result, 1, "/nonexistent/kubeconfig", "--kubeconfig FILE");
    }

    [Fact]
    public async Task Operator_WithKubeconfig_ReconcilesAGraphAndStopsOnSigterm()
    {
        using var loggers = TestOutputLoggerProvider.Factory(output);
        await using var server = await DevApiServer.StartAsync(new DevApiServerOptions(), loggers);
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"dynamo-operator-{Guid.NewGuid():N}.kubeconfig");
        server.WriteKubeconfig(kubeconfig);
        try
        {
            using var api = KubeApiClient.Create(kubeconfig);
            foreach (var (_, crd) in CrdGenerator.All())
            {
                await api.CreateAsync(KubeResource.Crds, null, crd);
            }

            await using var process = DynamoProcess.Start(["operator", "--kubeconfig", kubeconfig, "--metrics-port", "0"], new Dictionary<string, string>());
            await process.WaitForLineAsync(@"Dynamo operator .* is running .* metrics at http://127\.0\.0\.1:\d+/metrics", Timeout);
            await api.CreateAsync(KubeResource.Graphs, "default", new JsonObject
            {
                ["apiVersion"] = "dynamo.dotnet.dev/v1beta1",
                ["kind"] = "DynamoGraphDeployment",
                ["metadata"] = new JsonObject { ["name"] = "cli" },
                ["spec"] = new JsonObject
                {
                    ["components"] = new JsonArray(
                        new JsonObject { ["name"] = "frontend", ["type"] = "frontend" },
                        new JsonObject { ["name"] = "worker", ["type"] = "worker", ["replicas"] = 2 }),
                },
            });

            var deadline = DateTime.UtcNow + Timeout;
            while (await api.GetAsync(KubeResource.Deployments, "default", "cli-worker") is null)
            {
                Assert.True(DateTime.UtcNow < deadline, $"no Deployment cli-worker after {Timeout.TotalSeconds} s; operator output:\n{process.Output}");
                Assert.False(process.HasExited, $"the operator exited: {process.Output}");
                await Task.Delay(50);
            }

            process.Terminate();
            Assert.Equal(0, await process.WaitForExitAsync(Timeout));
            var lease = await api.GetAsync(KubeResource.Leases, "default", "dynamo-operator");
            Assert.Null(lease?["spec"]?["holderIdentity"]);
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Dynamo.sln"))) return dir.FullName;
        }

        throw new InvalidOperationException("no Dynamo.sln above the test folder");
    }
}
