using Dynamo.Runtime.Tests.Infrastructure;
using k8s;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Dynamo.DevCluster.Tests.Infrastructure;

/// <summary>A dev API server on a free loopback port, its kubeconfig, and a KubernetesClient built from that kubeconfig.</summary>
internal sealed class TestApiServer : IAsyncDisposable
{
    private readonly ILoggerFactory _loggers;
    private readonly string _dir;

    private TestApiServer(DevApiServer server, ILoggerFactory loggers, string dir, string kubeconfig, Kubernetes client)
    {
        Server = server;
        _loggers = loggers;
        _dir = dir;
        Kubeconfig = kubeconfig;
        Client = client;
    }

    public DevApiServer Server { get; }
    public string Kubeconfig { get; }
    public Kubernetes Client { get; }
    public Uri Address => Server.Address;

    public static async Task<TestApiServer> StartAsync(ITestOutputHelper output, DevApiServerOptions? options = null)
    {
        var loggers = TestOutputLoggerProvider.Factory(output);
        var server = await DevApiServer.StartAsync(options ?? new DevApiServerOptions(), loggers);
        var dir = Path.Combine(Path.GetTempPath(), "dynamo-devcluster-tests", Guid.NewGuid().ToString("N"));
        var kubeconfig = Path.Combine(dir, "kubeconfig");
        server.WriteKubeconfig(kubeconfig);
        var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig);
        return new TestApiServer(server, loggers, dir, kubeconfig, new Kubernetes(config));
    }

    /// <summary>A raw HTTP client that trusts this server's certificate; with the bearer token unless <paramref name="authenticated"/> is false.</summary>
    public HttpClient Http(bool authenticated = true)
    {
        var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, cert, _, _) => cert?.Thumbprint == Server.Certificate.Thumbprint,
        };
        var http = new HttpClient(handler) { BaseAddress = Address };
        if (authenticated) http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Server.BearerToken);
        return http;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        _loggers.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A kubectl cache file still being written; the temp folder is cleaned by the OS.
        }
    }
}
