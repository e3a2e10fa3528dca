using System.Diagnostics;
using System.Net;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.OpenAi;
using Dynamo.Contracts.Routing;
using Dynamo.Gateway.Errors;
using Dynamo.Gateway.Forwarding;
using Dynamo.Gateway.Limits;
using Dynamo.Gateway.Models;
using Dynamo.Gateway.Observability;
using Dynamo.Gateway.Pipeline;
using Dynamo.Gateway.Security;
using Dynamo.Runtime.Http;
using Dynamo.Runtime.Observability;
using Dynamo.Runtime.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Trace;
using Prometheus;
using Yarp.ReverseProxy.Forwarder;

namespace Dynamo.Gateway;

/// <summary>
/// The OpenAI-compatible front end: a Kestrel server whose completions endpoints run the
/// <see cref="CompletionPipeline"/> and forward to workers with YARP's <see cref="IHttpForwarder"/>.
/// </summary>
public sealed class GatewayHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly MetricsExports _exports;

    private GatewayHost(WebApplication app, MetricsExports exports, Uri address, Uri adminAddress, Uri? grpcAddress)
    {
        _app = app;
        _exports = exports;
        Address = address;
        AdminAddress = adminAddress;
        GrpcAddress = grpcAddress;
    }

    /// <summary>Base address clients use, e.g. <c>http://127.0.0.1:8000/</c>.</summary>
    public Uri Address { get; }

    /// <summary>Where <c>/metrics</c>, <c>/health</c> and <c>/live</c> are served (the same as <see cref="Address"/> unless split).</summary>
    public Uri AdminAddress { get; }

    /// <summary>Where the KServe v2 gRPC frontend listens (HTTP/2 without TLS); null when <see cref="GatewayOptions.GrpcPort"/> is unset.</summary>
    public Uri? GrpcAddress { get; }

    /// <summary>
    /// Starts the gateway. Every request it sends a worker (generation, remote prefill, health probes) carries a
    /// credential made with <paramref name="clusterSecret"/>, which the workers of the deployment require.
    /// </summary>
    public static async Task<GatewayHost> StartAsync(
        GatewayOptions options,
        IWorkerRouter router,
        IDiscovery discovery,
        ModelCatalog models,
        ClusterSecret clusterSecret,
        ILoggerFactory loggerFactory,
        TimeProvider? time = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(clusterSecret);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddSingleton(loggerFactory);
        // How long in-flight streams may finish on stop is the caller's (Dynamo:Serve:ShutdownTimeout), not the
        // host's own 30 s default: see StopAsync.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = Timeout.InfiniteTimeSpan);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // The pipeline enforces the body limit itself so the answer is an OpenAI-shaped 413.
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Parse(options.Host), options.Port);
            if (options.AdminPort is { } adminPort)
            {
                kestrel.Listen(IPAddress.Parse(options.Host), adminPort);
            }

            if (options.GrpcPort is { } grpcPort)
            {
                // gRPC clients speak HTTP/2 without TLS ("h2c") unless told otherwise: this port speaks only that.
                kestrel.Listen(IPAddress.Parse(options.Host), grpcPort, listen => listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
            }
        });

        builder.Services.Configure<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>(sockets =>
        {
            if (options.Transport.IOQueueCount is { } queues)
            {
                sockets.IOQueueCount = queues;
            }

            sockets.UnsafePreferInlineScheduling = options.Transport.UnsafePreferInlineScheduling;
        });

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(router);
        builder.Services.AddSingleton(discovery);
        builder.Services.AddSingleton(models);
        builder.Services.AddSingleton(time ?? TimeProvider.System);
        builder.Services.AddSingleton<GatewayMetrics>();
        builder.Services.AddSingleton<AdmissionController>();
        builder.Services.AddSingleton<WorkerDirectory>();
        builder.Services.AddSingleton<WorkerHealth>();
        builder.Services.AddSingleton<ApiKeyAuthenticator>();
        builder.Services.AddSingleton<Disaggregation.PrefillCoordinator>();
        builder.Services.AddSingleton(sp => new Responses.ResponseStore(options.Responses, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<CompletionPipeline>();
        if (options.GrpcPort is not null)
        {
            builder.Services.AddGrpc(grpc => grpc.MaxReceiveMessageSize = (int)Math.Min(int.MaxValue, options.MaxRequestBodyBytes));
        }
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton(_ => new HttpMessageInvoker(new ClusterCredentialHandler(clusterSecret, new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            MaxConnectionsPerServer = options.Transport.MaxConnectionsPerWorker ?? int.MaxValue,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),

            // A stream the gateway abandons (its client left) is closed at once, not drained for up to 2 s to reuse the
            // connection: draining keeps the worker generating, and its KV blocks held, for nobody.
            MaxResponseDrainSize = 0,
            ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
        }, time)));
        AddTracing(builder.Services, options);
        AddCrossOrigin(builder.Services, options);

        var app = builder.Build();
        if (discovery is Runtime.Nats.NatsDiscovery nats)
        {
            app.Services.GetRequiredService<GatewayMetrics>().Track(nats.Rejections);
        }

        var ports = new BoundPorts();
        var exports = new MetricsExports();
        MapEndpoints(app, ports, options, exports);
        await app.StartAsync(cancellationToken);

        // Kestrel reports addresses in listen order: the public endpoint first, then the admin one, then the gRPC one.
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Select(a => new Uri(a.EndsWith('/') ? a : a + "/"))
            .ToList();
        var admin = options.AdminPort is null ? bound[0] : bound[1];
        var grpc = options.GrpcPort is null ? null : bound[^1];
        ports.Public = bound[0].Port;
        ports.Admin = admin.Port;
        ports.Grpc = grpc?.Port ?? -1;
        return new GatewayHost(app, exports, bound[0], admin, grpc);
    }

    /// <summary>
    /// Stops accepting connections and lets in-flight requests finish until <paramref name="cancellationToken"/>
    /// fires (the configured shutdown timeout), then aborts what is left. A token that cannot fire is bounded by
    /// <see cref="DefaultStopTimeout"/>.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        using var fallback = cancellationToken.CanBeCanceled ? null : new CancellationTokenSource(DefaultStopTimeout);
        await _app.StopAsync(fallback?.Token ?? cancellationToken);
    }

    /// <summary>How long a stop without a deadline waits for in-flight requests.</summary>
    public static readonly TimeSpan DefaultStopTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The traffic counters behind <c>/metrics</c>, read in process (the embedded planner observes these).</summary>
    public TrafficTotals Traffic() => _app.Services.GetRequiredService<GatewayMetrics>().Traffic();

    /// <summary>
    /// Serves <paramref name="registry"/> on <c>/metrics</c> after the gateway's own metrics: parts that run in the
    /// gateway's process without a server of their own (the embedded planner) are scraped with it.
    /// </summary>
    public void ExportMetrics(CollectorRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        _exports.Add(registry);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
    }

    /// <summary>The CORS policy of <see cref="GatewayOptions.Cors"/>: its origins may call the API with any header.</summary>
    private static void AddCrossOrigin(IServiceCollection services, GatewayOptions options)
    {
        if (options.Cors.AllowedOrigins.Count == 0)
        {
            return;
        }

        services.AddCors(cors => cors.AddDefaultPolicy(policy => policy
            .WithOrigins([.. options.Cors.AllowedOrigins])
            .WithMethods(HttpMethods.Get, HttpMethods.Post)
            .AllowAnyHeader()
            .WithExposedHeaders("Retry-After")
            .SetPreflightMaxAge(TimeSpan.FromMinutes(10))));
    }

    private static void AddTracing(IServiceCollection services, GatewayOptions options)
    {
        var endpoint = options.OtlpEndpoint ?? Environment.GetEnvironmentVariable(EnvironmentVariables.OtlpEndpoint);
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return;
        }

        services.AddOpenTelemetry().WithTracing(tracing => tracing
            .AddSource([.. Telemetry.AllSourceNames])
            .AddAspNetCoreInstrumentation()
            .AddHttpClientInstrumentation()
            .AddOtlpExporter(otlp => otlp.Endpoint = new Uri(endpoint)));
    }

    private static void MapEndpoints(WebApplication app, BoundPorts ports, GatewayOptions options, MetricsExports exports)
    {
        var auth = app.Services.GetRequiredService<ApiKeyAuthenticator>();
        var splitAdmin = options.AdminPort is not null;
        var cors = options.Cors.AllowedOrigins.Count > 0 ? app.Services.GetRequiredService<ICorsPolicyProvider>() : null;
        app.UseOpenAiErrorBodies();
        app.UseRouting();
        app.Use(async (context, next) =>
        {
            // A browser request from an origin not allowed (every origin by default) goes no further: neither a
            // preflight nor a "simple" post reaches the API, and a page that rebinds a loopback name is refused too.
            var origin = context.Request.Headers.Origin;
            if (origin.Count > 0 && (cors is null || !(await cors.GetPolicyAsync(context, null))!.IsOriginAllowed(origin.ToString())))
            {
                throw new OpenAiException(StatusCodes.Status403Forbidden,
                    $"Cross-origin requests from '{OpenAiException.Shorten(origin.ToString())}' are not allowed; " +
                    $"allowed origins are set in {GatewayOptions.SectionName}:Cors:AllowedOrigins.",
                    "invalid_request_error", null, "origin_not_allowed");
            }

            await next(context);
        });
        if (cors is not null)
        {
            app.UseCors();
        }

        app.Use(async (context, next) =>
        {
            // Which surface a request reaches is decided by the endpoint routing chose, never by re-reading the path:
            // routing matches case-insensitively, with or without a trailing slash, after Kestrel has decoded %XX and
            // removed dot segments, so any spelling that reaches an admin endpoint is recognised as one.
            var admin = context.GetEndpoint()?.Metadata.GetMetadata<AdminEndpoint>() is not null;
            var grpc = context.GetEndpoint()?.Metadata.GetMetadata<Grpc.AspNetCore.Server.GrpcMethodMetadata>() is not null;
            if ((splitAdmin && admin != (context.Connection.LocalPort == ports.Admin)) || grpc != (context.Connection.LocalPort == ports.Grpc))
            {
                // Operational endpoints live only on the admin port, gRPC only on the gRPC port, the API only on the public one.
                throw ErrorWriter.NotFound($"Unknown path: {OpenAiException.Shorten(context.Request.Method)} {OpenAiException.Shorten(context.Request.Path.Value)}.", null, "unknown_url");
            }

            if (auth.Enabled && !admin)
            {
                using var lease = auth.Admit(context);
                await next(context);
                return;
            }

            await next(context);
        });

        // Every endpoint takes any method and answers 405 itself for the wrong one: routing's 405 endpoint loses to the
        // fallback, and would carry none of the metadata the port check reads.
        var pipeline = app.Services.GetRequiredService<CompletionPipeline>();
        app.Map("/v1/chat/completions", OpenAiErrors.Allow("POST", OpenAiErrors.JsonOnly(context => pipeline.HandleAsync(context, RequestKind.Chat))));
        app.Map("/v1/completions", OpenAiErrors.Allow("POST", OpenAiErrors.JsonOnly(context => pipeline.HandleAsync(context, RequestKind.Completion))));
        if (options.GrpcPort is not null)
        {
            app.MapGrpcService<KServe.KServeService>();
        }

        app.Map("/v1/responses", OpenAiErrors.Allow("POST", OpenAiErrors.JsonOnly(pipeline.HandleResponsesAsync)));
        app.Map("/v1/responses/{id}", OpenAiErrors.Allow("GET, DELETE", StoredResponseAsync));
        app.Map("/v1/models", OpenAiErrors.Allow("GET, HEAD", WriteModelsAsync));
        app.Map("/health", OpenAiErrors.Allow("GET, HEAD", WriteHealthAsync)).WithMetadata(AdminEndpoint.Instance);
        app.Map("/live", OpenAiErrors.Allow("GET, HEAD", context => context.Response.WriteAsync("{\"status\":\"live\"}"))).WithMetadata(AdminEndpoint.Instance);
        app.Map("/metrics", OpenAiErrors.Allow("GET, HEAD", async context =>
        {
            var metrics = context.RequestServices.GetRequiredService<GatewayMetrics>();
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
            foreach (var registry in exports.Registries)
            {
                await registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
            }
        })).WithMetadata(AdminEndpoint.Instance);
        app.MapFallback(context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
    }

    /// <summary>Marks <c>/metrics</c>, <c>/health</c> and <c>/live</c>: served without a key, and only on the admin port when it is split.</summary>
    private sealed class AdminEndpoint
    {
        public static readonly AdminEndpoint Instance = new();
    }

    /// <summary>Registries served on <c>/metrics</c> after the gateway's (<see cref="ExportMetrics"/>).</summary>
    private sealed class MetricsExports
    {
        private readonly Lock _lock = new();
        private CollectorRegistry[] _registries = [];

        public IReadOnlyList<CollectorRegistry> Registries => Volatile.Read(ref _registries);

        public void Add(CollectorRegistry registry)
        {
            lock (_lock)
            {
                _registries = [.. _registries, registry];
            }
        }
    }

    /// <summary>Ports known only after Kestrel binds (0 means "pick one").</summary>
    private sealed class BoundPorts
    {
        public int Public { get; set; }

        public int Admin { get; set; }

        /// <summary>The gRPC port; -1 when there is none.</summary>
        public int Grpc { get; set; } = -1;
    }

    /// <summary><c>GET</c> or <c>DELETE /v1/responses/{id}</c>: a response kept by this gateway's response store.</summary>
    private static async Task StoredResponseAsync(HttpContext context)
    {
        var store = context.RequestServices.GetRequiredService<Responses.ResponseStore>();
        var id = (string)context.Request.RouteValues["id"]!;
        var notFound = ErrorWriter.NotFound(
            $"No response with id '{OpenAiException.Shorten(id)}' is kept by this server (it was not stored, was deleted, or has expired).", "response_id", "response_not_found");
        if (HttpMethods.IsDelete(context.Request.Method))
        {
            if (!store.Delete(id))
            {
                throw notFound;
            }

            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($"{{\"id\":{System.Text.Json.JsonSerializer.Serialize(id)},\"object\":\"response\",\"deleted\":true}}");
            return;
        }

        var response = store.Response(id) ?? throw notFound;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(response, context.RequestAborted);
    }

    private static Task WriteModelsAsync(HttpContext context)
    {
        var models = context.RequestServices.GetRequiredService<ModelCatalog>();
        var workers = context.RequestServices.GetRequiredService<WorkerDirectory>();
        var created = context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeSeconds();
        var list = new ModelList([.. workers.ServedModels.Order(StringComparer.Ordinal)
            .Select(name => models.TryGet(name, out var card) ? new ModelCardOut(name, created, "dynamo") { MaxModelLen = card.MaxContextLength } : null)
            .OfType<ModelCardOut>()]);
        return context.Response.WriteAsJsonAsync(list, OpenAiJsonContext.Relaxed.ModelList);
    }

    /// <summary>
    /// Healthy while at least one worker of a model this gateway serves is in discovery; <c>instances</c> counts those,
    /// <c>other_models</c> the workers of models it has no card for (started with the wrong model), which never serve.
    /// </summary>
    private static Task WriteHealthAsync(HttpContext context)
    {
        var discovery = context.RequestServices.GetRequiredService<IDiscovery>();
        var servable = context.RequestServices.GetRequiredService<WorkerDirectory>().ServableCount;
        var others = Math.Max(0, discovery.GetInstances().Count - servable);
        context.Response.StatusCode = servable > 0 ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json";
        var status = servable > 0 ? "healthy" : "unhealthy";
        return context.Response.WriteAsync($"{{\"status\":\"{status}\",\"instances\":{servable},\"other_models\":{others}}}");
    }
}
