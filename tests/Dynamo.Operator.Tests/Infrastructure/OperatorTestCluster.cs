using System.Text.Json.Nodes;
using Dynamo.DevCluster;
using Dynamo.Operator.Client;
using Dynamo.Operator.Schema;
using Dynamo.Runtime.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Dynamo.Operator.Tests.Infrastructure;

/// <summary>
/// The one-machine API server on a free port (HTTPS, bearer token), its kubeconfig, the operator's CRDs installed,
/// and a <see cref="KubeApiClient"/> made from the kubeconfig as <c>dynamo operator --kubeconfig</c> makes it.
/// </summary>
internal sealed class OperatorTestCluster : IAsyncDisposable
{
    private readonly string _dir;

    private OperatorTestCluster(DevApiServer server, ILoggerFactory loggers, string dir, string kubeconfig, KubeApiClient api)
    {
        Server = server;
        Loggers = loggers;
        _dir = dir;
        Kubeconfig = kubeconfig;
        Api = api;
    }

    public DevApiServer Server { get; }

    public ILoggerFactory Loggers { get; }

    public string Kubeconfig { get; }

    public KubeApiClient Api { get; }

    public static async Task<OperatorTestCluster> StartAsync(ITestOutputHelper output, DevApiServerOptions? options = null, Func<HttpMessageHandler, HttpMessageHandler>? wrap = null, bool installCrds = true)
    {
        var loggers = TestOutputLoggerProvider.Factory(output);
        var server = await DevApiServer.StartAsync(options ?? new DevApiServerOptions(), loggers);
        var dir = Path.Combine(Path.GetTempPath(), "dynamo-operator-tests", Guid.NewGuid().ToString("N"));
        var kubeconfig = Path.Combine(dir, "kubeconfig");
        server.WriteKubeconfig(kubeconfig);
        var api = KubeApiClient.Create(kubeconfig, wrap);
        var cluster = new OperatorTestCluster(server, loggers, dir, kubeconfig, api);
        if (!installCrds)
        {
            return cluster;
        }

        foreach (var (_, crd) in CrdGenerator.All())
        {
            await api.CreateAsync(KubeResource.Crds, null, crd);
        }

        await cluster.WaitForCrdsAsync();
        return cluster;
    }

    public async Task WaitForCrdsAsync()
    {
        var api = Api;
        await Wait.UntilAsync(async () =>
        {
            try
            {
                await api.ListAsync(KubeResource.Adapters, "default");
                await api.ListAsync(KubeResource.Graphs, "default");
                return true;
            }
            catch (KubeApiException error) when (error.IsNotFound)
            {
                return false;
            }
        }, () => "the CRDs to be served");
    }

    /// <summary>Another client of the same server (a second operator replica, the planner).</summary>
    public KubeApiClient NewClient(Func<HttpMessageHandler, HttpMessageHandler>? wrap = null) => KubeApiClient.Create(Kubeconfig, wrap);

    public async Task<JsonObject> ApplyGraphAsync(string path, string ns = "default")
    {
        var graph = TestGraphs.Json(path);
        graph["metadata"]!["namespace"] = ns;
        return await Api.CreateAsync(KubeResource.Graphs, ns, graph);
    }

    public async ValueTask DisposeAsync()
    {
        Api.Dispose();
        await Server.DisposeAsync();
        Loggers.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Cleaned by the OS.
        }
    }
}
