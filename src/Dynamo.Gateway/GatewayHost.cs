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
using Dynamo.Runtime.Observability;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
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

    private GatewayHost(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>Base address clients use, e.g. <c>http://127.0.0.1:8000/</c>.</summary>
    public Uri Address { get; }

    public static async Task<GatewayHost> StartAsync(
        GatewayOptions options,
        IWorkerRouter router,
        IDiscovery discovery,
        ModelCatalog models,
        ILoggerFactory loggerFactory,
        TimeProvider? time = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // The pipeline enforces the body limit itself so the answer is an OpenAI-shaped 413.
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Parse(options.Host), options.Port);
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
        builder.Services.AddSingleton<CompletionPipeline>();
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton(_ => new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
        }));
        AddTracing(builder.Services, options);

        var app = builder.Build();
        MapEndpoints(app);
        await app.StartAsync(cancellationToken);

        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new GatewayHost(app, new Uri(bound.EndsWith('/') ? bound : bound + "/"));
    }

    public async Task StopAsync(CancellationToken cancellationToken = default) => await _app.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
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

    private static void MapEndpoints(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (BadHttpRequestException ex)
            {
                if (!context.Response.HasStarted)
                {
                    await ErrorWriter.WriteAsync(context, ex.StatusCode, ex.Message, "invalid_request_error");
                }
            }
        });

        var pipeline = app.Services.GetRequiredService<CompletionPipeline>();
        app.MapPost("/v1/chat/completions", context => pipeline.HandleAsync(context, RequestKind.Chat));
        app.MapPost("/v1/completions", context => pipeline.HandleAsync(context, RequestKind.Completion));
        app.MapGet("/v1/models", WriteModelsAsync);
        app.MapGet("/health", WriteHealthAsync);
        app.MapGet("/live", context => context.Response.WriteAsync("{\"status\":\"live\"}"));
        app.MapGet("/metrics", async context =>
        {
            var metrics = context.RequestServices.GetRequiredService<GatewayMetrics>();
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
        });
        app.MapFallback(context => ErrorWriter.WriteAsync(
            context,
            ErrorWriter.NotFound($"Unknown path: {context.Request.Method} {context.Request.Path}.", null, "unknown_url")));
    }

    private static Task WriteModelsAsync(HttpContext context)
    {
        var models = context.RequestServices.GetRequiredService<ModelCatalog>();
        var workers = context.RequestServices.GetRequiredService<WorkerDirectory>();
        var created = context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeSeconds();
        var served = workers.ServedModels.Where(name => models.TryGet(name, out _)).Order(StringComparer.Ordinal);
        var list = new ModelList([.. served.Select(name => new ModelCardOut(name, created, "dynamo"))]);
        return context.Response.WriteAsJsonAsync(list, OpenAiJsonContext.Relaxed.ModelList);
    }

    private static Task WriteHealthAsync(HttpContext context)
    {
        var discovery = context.RequestServices.GetRequiredService<IDiscovery>();
        var instances = discovery.GetInstances();
        context.Response.StatusCode = instances.Count > 0 ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json";
        var status = instances.Count > 0 ? "healthy" : "unhealthy";
        return context.Response.WriteAsync($"{{\"status\":\"{status}\",\"instances\":{instances.Count}}}");
    }
}
