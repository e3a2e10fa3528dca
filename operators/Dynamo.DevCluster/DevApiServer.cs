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
        var resources = new ResourceHandler(store, tables, watch);
        string? serverAddress = null;
        var token = options.BearerToken ?? Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        var expected = System.Text.Encoding.UTF8.GetBytes("Bearer " + token);
        app.Run(ctx => HandleAsync(ctx, registry, resources, metrics, serverAddress!, expected, options.TimeProvider, logger));
        await app.StartAsync(cancellationToken);

        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var address = new Uri(bound);
        serverAddress = $"{address.Host}:{address.Port}";
        LogStarted(logger, address);
        return new DevApiServer(app, store, address, token, certificate, logger);
    }

    private static async Task HandleAsync(HttpContext ctx, ResourceRegistry registry, ResourceHandler resources, ApiServerMetrics metrics,
        string serverAddress, byte[] expectedAuthorization, TimeProvider time, ILogger logger)
    {
        var path = ctx.Request.Path.Value ?? "/";
        var started = time.GetTimestamp();
        var verb = ctx.Request.Method.ToLowerInvariant();
        var resource = "";
        try
        {
            if (path == "/metrics" && ctx.Request.Method == "GET")
            {
                ctx.Response.ContentType = "text/plain; version=0.0.4";
                await metrics.Registry.CollectAndExportAsTextAsync(ctx.Response.Body, ctx.RequestAborted);
                return;
            }
            if (path is not ("/healthz" or "/livez" or "/readyz" or "/version")
                && !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
                    System.Text.Encoding.UTF8.GetBytes(ctx.Request.Headers.Authorization.ToString()), expectedAuthorization))
            {
                throw new ApiException(401, "Unauthorized", "Unauthorized: send the bearer token from the kubeconfig the dev cluster wrote");
            }
            if (path == "/openapi/v2" && ctx.Request.Method == "GET")
            {
                ctx.Response.ContentType = OpenApiV2Document.ContentType;
                await ctx.Response.Body.WriteAsync(OpenApiV2Document.Protobuf, ctx.RequestAborted);
                return;
            }
            Negotiation.CheckAcceptsJson(ctx.Request);
            if (ctx.Request.Method == "GET" && await TryDiscoveryAsync(ctx, registry, path, serverAddress)) return;
            var info = RequestInfo.Parse(registry, path)
                ?? throw new ApiException(404, "NotFound", $"the server could not find the requested resource ({ctx.Request.Method} {path})");
            resource = info.Type.QualifiedResource + (info.Subresource is null ? "" : "/" + info.Subresource);
            verb = Verb(ctx.Request, info);
            await resources.HandleAsync(ctx, info);
        }
        catch (ApiException e)
        {
            if (e.Code >= 500) LogServerError(logger, ctx.Request.Method, path, e.Message);
            else LogRefused(logger, ctx.Request.Method, path, e.Code, e.Message);
            if (!ctx.Response.HasStarted)
            {
                if (e.RetryAfterSeconds is { } retry) ctx.Response.Headers.RetryAfter = retry.ToString(CultureInfo.InvariantCulture);
                await Negotiation.WriteJsonAsync(ctx.Response, e.Code, e.ToStatus(), ctx.RequestAborted);
            }
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client left.
        }
        catch (Exception e)
        {
            LogUnexpected(logger, e, ctx.Request.Method, path);
            if (!ctx.Response.HasStarted)
            {
                var status = new ApiException(500, "InternalError", $"Internal error occurred: {e.Message}").ToStatus();
                await Negotiation.WriteJsonAsync(ctx.Response, 500, status, ctx.RequestAborted);
            }
        }
        finally
        {
            if (path != "/metrics") metrics.Record(verb, resource, ctx.Response.StatusCode, verb == "watch" ? null : time.GetElapsedTime(started));
        }
    }

    private static string Verb(HttpRequest request, RequestInfo info) => request.Method switch
    {
        "GET" when info.WatchPath || ResourceHandler.IsTrue(request.Query["watch"]) => "watch",
        "GET" => info.Name is null ? "list" : "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => info.Name is null ? "deletecollection" : "delete",
        var other => other.ToLowerInvariant(),
    };

    private static async Task<bool> TryDiscoveryAsync(HttpContext ctx, ResourceRegistry registry, string path, string serverAddress)
    {
        var segs = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        JsonObject? doc = segs switch
        {
            ["version"] => DiscoveryDocuments.Version(),
            ["healthz"] or ["livez"] or ["readyz"] => null,
            ["api"] => DiscoveryDocuments.CoreVersions(serverAddress),
            ["api", var v] => DiscoveryDocuments.ResourceList(registry, "", v) ?? throw NotFound(path),
            ["apis"] => DiscoveryDocuments.GroupList(registry),
            ["apis", var g] => DiscoveryDocuments.Group(registry, g) ?? throw NotFound(path),
            ["apis", var g, var v] => DiscoveryDocuments.ResourceList(registry, g, v) ?? throw NotFound(path),
            ["openapi", "v3"] => OpenApiDocuments.Index(registry),
            ["openapi", "v3", "api", var v] => OpenApiDocuments.GroupVersion(registry, "", v) ?? throw NotFound(path),
            ["openapi", "v3", "apis", var g, var v] => OpenApiDocuments.GroupVersion(registry, g, v) ?? throw NotFound(path),
            _ => null,
        };
        if (doc is null)
        {
            if (segs is ["healthz"] or ["livez"] or ["readyz"])
            {
                ctx.Response.ContentType = "text/plain";
                await ctx.Response.WriteAsync("ok", ctx.RequestAborted);
                return true;
            }
            return false;
        }
        await Negotiation.WriteJsonAsync(ctx.Response, 200, doc, ctx.RequestAborted);
        return true;
    }

    private static ApiException NotFound(string path) =>
        new(404, "NotFound", $"the server could not find the requested resource ({path})");

    /// <summary>Writes a kubeconfig whose current context points at this server: its certificate as the authority, its bearer token.</summary>
    public void WriteKubeconfig(string path, string contextName = "dynamo-devcluster", string defaultNamespace = "default")
    {
        var ca = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(Certificate.ExportCertificatePem()));
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} {Path} refused with {Code}: {Message}")]
    private static partial void LogRefused(ILogger logger, string method, string path, int code, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path} failed: {Message}")]
    private static partial void LogServerError(ILogger logger, string method, string path, string message);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string method, string path);
}
