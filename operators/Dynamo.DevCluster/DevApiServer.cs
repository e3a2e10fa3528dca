using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Crds;
using Dynamo.DevCluster.Discovery;
using Dynamo.DevCluster.Http;
using Dynamo.DevCluster.Observability;
using Dynamo.DevCluster.Store;
using Dynamo.DevCluster.Tables;
using Dynamo.DevCluster.Watch;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dynamo.DevCluster;

/// <summary>
/// A Kubernetes-compatible API server for one machine: the REST and watch protocol over HTTPS on 127.0.0.1 (a
/// self-signed certificate and a bearer token per start, both in the kubeconfig it writes), with
/// discovery, OpenAPI v3 and server-side Tables enough for kubectl and client libraries. Objects live in memory.
/// <see cref="Store"/> is the in-process view of the same objects for code hosted beside it.
/// </summary>
public sealed partial class DevApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ILogger _logger;

    private DevApiServer(WebApplication app, ObjectStore store, Uri address, string token, X509Certificate2 certificate, ILogger logger)
    {
        BearerToken = token;
        Certificate = certificate;
        _app = app;
        Store = store;
        Address = address;
        _logger = logger;
    }

    /// <summary>Where the server listens, e.g. <c>https://127.0.0.1:41234</c>.</summary>
    public Uri Address { get; }

    /// <summary>The token clients send as <c>Authorization: Bearer</c>.</summary>
    public string BearerToken { get; }

    /// <summary>The server's self-signed TLS certificate (also its certificate authority in the kubeconfig).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The object store behind the API, for in-process callers (same objects, same resourceVersions, same watch stream).</summary>
    public ObjectStore Store { get; }

    /// <summary>The registry served on /metrics, for components hosted beside the server (the node agent, the controllers).</summary>
    internal Prometheus.CollectorRegistry MetricsRegistry { get; private init; } = null!;

    public static async Task<DevApiServer> StartAsync(DevApiServerOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var logger = loggerFactory.CreateLogger("Dynamo.DevCluster.ApiServer");
        var registry = new ResourceRegistry(BuiltInResources.All);
        var store = new ObjectStore(registry, new WatchHub(options.WatchHistory, options.WatchBuffer), options.TimeProvider,
            loggerFactory.CreateLogger("Dynamo.DevCluster.Store"), options.GracefulPodDeletion);
        store.AddAdmission(new BuiltInAdmission(store));
        store.AddAdmission(new CustomResourceAdmission());
        var crds = new CrdRegistrar(store, options.TimeProvider, loggerFactory.CreateLogger("Dynamo.DevCluster.Crds"));
        store.AddAdmission(crds);
        store.AddController(crds);
        var namespaces = registry.FindStorage("namespaces")!;
        foreach (var ns in new[] { "default", "kube-system", "kube-public", "kube-node-lease" })
        {
            store.Create(namespaces, null, new JsonObject { ["metadata"] = new JsonObject { ["name"] = ns } });
        }

        var certificate = ServingCertificate.Create(options.TimeProvider);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 3 * 1024 * 1024;
            kestrel.Listen(IPAddress.Loopback, options.Port, listen => listen.UseHttps(certificate));
        });
        var app = builder.Build();
        var tables = new TablePrinter(options.TimeProvider);
        var metrics = new ApiServerMetrics(store);
        var watch = new WatchHandler(store, tables, options, metrics, loggerFactory.CreateLogger("Dynamo.DevCluster.Watch"));
        var resources = new ResourceHandler(store, tables, watch, options.TimeProvider);
        var token = options.BearerToken ?? Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        var router = new ApiRouter(registry, resources, metrics, token, options.TimeProvider, logger);
        app.Run(router.HandleAsync);
        await app.StartAsync(cancellationToken);

        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var address = new Uri(bound);
        router.ServerAddress = $"{address.Host}:{address.Port}";
        LogStarted(logger, address);
        return new DevApiServer(app, store, address, token, certificate, logger) { MetricsRegistry = metrics.Registry };
    }

    /// <summary>
    /// Writes a kubeconfig whose current context points at this server: its certificate as the authority, its bearer
    /// token (so the file is made readable by its owner only).
    /// </summary>
    public void WriteKubeconfig(string path, string contextName = "dynamo-devcluster", string defaultNamespace = "default")
    {
        var ca = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(Certificate.ExportCertificatePem()));
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        if (!OperatingSystem.IsWindows())
        {
            using (File.Create(path)) { }
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: {contextName}
              cluster:
                server: {Address.GetLeftPart(UriPartial.Authority)}
                certificate-authority-data: {ca}
            users:
            - name: {contextName}
              user:
                token: {BearerToken}
            contexts:
            - name: {contextName}
              context:
                cluster: {contextName}
                user: {contextName}
                namespace: {defaultNamespace}
            current-context: {contextName}
            preferences: {"{}"}

            """);
    }

    public async ValueTask DisposeAsync()
    {
        lock (Store.Gate) Store.Hub.CompleteAll();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Certificate.Dispose();
        LogStopped(_logger);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Dev cluster API server listening on {Address}")]
    private static partial void LogStarted(ILogger logger, Uri address);

    [LoggerMessage(Level = LogLevel.Information, Message = "Dev cluster API server stopped")]
    private static partial void LogStopped(ILogger logger);
}
