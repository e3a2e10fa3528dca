using Dynamo.DevCluster;
using Dynamo.Operator.Client;
using Dynamo.Operator.Controller;
using Dynamo.Operator.Schema;
using Dynamo.Operator.Tests.Infrastructure;
using Dynamo.Runtime.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Dynamo.Operator.Tests;

/// <summary>The operator keeps running through an API server restart and catches up with the new server's state.</summary>
public sealed class ApiServerRestartTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Operator_SurvivesAnApiServerRestart_AndReconcilesWhatTheNewServerHolds()
    {
        using var loggers = TestOutputLoggerProvider.Factory(output);
        var token = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
        var first = await DevApiServer.StartAsync(new DevApiServerOptions { BearerToken = token }, loggers);
        var port = first.Address.Port;
        // The dev server makes a new certificate per start; this kubeconfig skips verification so the same one serves both.
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"dynamo-operator-restart-{Guid.NewGuid():N}.kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: dev
              cluster:
                server: https://127.0.0.1:{port}
                insecure-skip-tls-verify: true
            users:
            - name: dev
              user:
                token: {token}
            contexts:
            - name: dev
              context:
                cluster: dev
                user: dev
                namespace: default
            current-context: dev
            """);
        DevApiServer? second = null;
        try
        {
            using var api = KubeApiClient.Create(kubeconfig);
            await InstallCrdsAsync(api);
            using var stop = new CancellationTokenSource();
            using var controller = new GraphController(api, "default", loggers, baseBackoff: TimeSpan.FromMilliseconds(50));
            var run = controller.RunAsync(stop.Token);
            await api.CreateAsync(KubeResource.Graphs, "default", TestGraphs.Json(TestGraphs.AggPath));
            await Wait.UntilAsync(async () => await api.GetAsync(KubeResource.Deployments, "default", "agg-worker") is not null, () => "agg reconciled on the first server", Timeout);

            await first.DisposeAsync();
            first = null;
            await Task.Delay(500);
            Assert.False(run.IsCompleted, "the controller stopped when the API server went away");

            second = await DevApiServer.StartAsync(new DevApiServerOptions { BearerToken = token, Port = port }, loggers);
            await InstallCrdsAsync(api);
            await api.CreateAsync(KubeResource.Graphs, "default", TestGraphs.Json(TestGraphs.DisaggPath));
            await Wait.UntilAsync(async () => await api.GetAsync(KubeResource.Deployments, "default", "disagg-decode") is not null,
                () => "disagg reconciled on the restarted server", Timeout);
            Assert.Null(await api.GetAsync(KubeResource.Deployments, "default", "agg-worker"));
            Assert.DoesNotContain(controller.Informers[0].Items, g => g["metadata"]!["name"]!.GetValue<string>() == "agg");

            await stop.CancelAsync();
            await run.WaitAsync(Timeout);
        }
        finally
        {
            if (first is not null) await first.DisposeAsync();
            if (second is not null) await second.DisposeAsync();
            File.Delete(kubeconfig);
        }
    }

    private static async Task InstallCrdsAsync(KubeApiClient api)
    {
        foreach (var (_, crd) in CrdGenerator.All())
        {
            await api.CreateAsync(KubeResource.Crds, null, crd);
        }

        await Wait.UntilAsync(async () =>
        {
            try
            {
                await api.ListAsync(KubeResource.Graphs, "default");
                return true;
            }
            catch (KubeApiException error) when (error.IsNotFound)
            {
                return false;
            }
        }, () => "the CRDs served", Timeout);
    }
}
