using System.Net;
using System.Text.Json;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.OpenAi;
using Dynamo.KvCache;
using Dynamo.Llm;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Http;
using Dynamo.Runtime.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Dynamo.Worker;

/// <summary>
/// One worker: an OpenAI-compatible HTTP server (Kestrel) in front of one <see cref="IEngine"/>, registered in
/// discovery. It serves the worker contract of the design: token-id (or text) prompts in, SSE chunks with text and
/// token ids out, <c>/health</c>, <c>/live</c>, <c>/load</c>, <c>/metrics</c> and <c>/v1/models</c>. Only requests
/// carrying the deployment's cluster credential get past <c>/live</c>, <c>/health</c> and <c>/metrics</c>
/// (<see cref="ClusterAuthentication"/>).
/// </summary>
/// <remarks>
/// The host does not own the engine, the discovery or the logger factory: the caller disposes them after the host.
/// Several hosts can live in one process (the embedded cluster); each has its own Kestrel, port and metrics registry.
/// </remarks>
public sealed class WorkerHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly DrainGate _gate;
    private readonly IAsyncDisposable _registration;
    private readonly TimeSpan _drainTimeout;
    private readonly ILogger _logger;
    private readonly Lock _stopLock = new();
    private Task? _stopping;
    private int _disposed;

    private WorkerHost(WebApplication app, DrainGate gate, IAsyncDisposable registration, WorkerInstance instance, TimeSpan drainTimeout, ILogger logger)
    {
        _app = app;
        _gate = gate;
        _registration = registration;
        Instance = instance;
        _drainTimeout = drainTimeout;
        _logger = logger;
    }

    /// <summary>Base address of the HTTP server as advertised in discovery, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Address => Instance.Address;

    /// <summary>The registration in discovery.</summary>
    public WorkerInstance Instance { get; }

    /// <summary>True once <see cref="StopAsync"/> has begun: <c>/health</c> answers 503 and new requests are refused.</summary>
    public bool IsDraining => _gate.IsDraining;

    /// <summary>Generation requests being served now.</summary>
    public int InflightRequests => _gate.Inflight;

    /// <summary>
    /// Validates <paramref name="options"/>, starts Kestrel on <see cref="WorkerOptions.Host"/>:<see cref="WorkerOptions.Port"/>
    /// (port 0: a free one), and registers the worker in <paramref name="discovery"/> under the address actually bound.
    /// Requests without a credential made with <paramref name="clusterSecret"/> are refused (<see cref="ClusterAuthentication"/>).
    /// </summary>
    /// <exception cref="OptionsValidationException">An option is invalid; the message names the key and the value.</exception>
    public static Task<WorkerHost> StartAsync(
        WorkerOptions options,
        IEngine engine,
        ModelCard modelCard,
        IDiscovery discovery,
        ClusterSecret clusterSecret,
        ILoggerFactory loggerFactory,
        CancellationToken cancellationToken = default) =>
        StartAsync(options, engine, modelCard, discovery, clusterSecret, loggerFactory, engine as IKvEventSource, cancellationToken);

    /// <summary>
    /// As the overload without <paramref name="kvEvents"/>, with the engine's KV cache served to routers:
    /// <c>GET /v1/kv/events?from=&amp;to=</c> (replay of a missed range) and <c>GET /v1/kv/dump</c> (every cached block).
    /// Null: both answer 404 and routers index this worker approximately.
    /// </summary>
    public static async Task<WorkerHost> StartAsync(
        WorkerOptions options,
        IEngine engine,
        ModelCard modelCard,
        IDiscovery discovery,
        ClusterSecret clusterSecret,
        ILoggerFactory loggerFactory,
        IKvEventSource? kvEvents,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(clusterSecret);
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(modelCard);
        ArgumentNullException.ThrowIfNull(discovery);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var validation = new WorkerOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(WorkerOptions.SectionName, typeof(WorkerOptions), validation.Failures);
        }

        var logger = loggerFactory.CreateLogger<WorkerHost>();
        var info = engine.Info;
        var servedModel = options.ServedModelName ?? modelCard.Name;
        var maxContext = info.MaxContextLength > 0 ? info.MaxContextLength : modelCard.MaxContextLength;
        var limits = options.RequestLimits.VocabSize is null && info.VocabSize > 0
            ? options.RequestLimits with { VocabSize = info.VocabSize }
            : options.RequestLimits;
        WorkerLog.Options(logger, options.Host, options.Port, options.AdvertisedHost, options.Role, options.InstanceId, servedModel, options.DrainTimeout, options.LoadReportInterval, limits);

        // Load the tokenizer now: a broken tokenizer stops start-up, and the first request does not pay for it.
        _ = modelCard.Tokenizer;
        _ = modelCard.Encoder;

        var gate = new DrainGate();
        var metrics = new WorkerMetrics(engine, options.InstanceId, servedModel, RoleName(options.Role));
        var handler = new GenerationHandler(
            engine, modelCard, servedModel, maxContext, limits, gate, metrics, options.LogRequests, TimeProvider.System, logger);
        var app = BuildApp(options, loggerFactory, limits);
        var authentication = new ClusterAuthentication(clusterSecret, metrics, TimeProvider.System, logger);
        app.Use(authentication.InvokeAsync);
        WorkerLog.ClusterAuthentication(logger, options.InstanceId, clusterSecret.Fingerprint);
        MapEndpoints(app, handler, gate, metrics, engine, options.InstanceId, options.Role, servedModel);
        MapKvEndpoints(app, kvEvents);

        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        WorkerInstance instance;
        IAsyncDisposable registration;
        try
        {
            var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
            var host = options.AdvertisedHost ?? (IsWildcard(options.Host) ? Dns.GetHostName() : options.Host);
            instance = new WorkerInstance
            {
                InstanceId = options.InstanceId,
                Model = servedModel,
                Role = options.Role,
                Address = new UriBuilder(Uri.UriSchemeHttp, host, bound.Port, "/").Uri,
                BlockSize = info.BlockSize,
                TotalKvBlocks = info.TotalKvBlocks,
                MaxContextLength = maxContext,
            };
            registration = await discovery.RegisterAsync(instance, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            gate.Dispose();
            throw;
        }

        WorkerLog.Started(logger, instance.InstanceId, instance.Role, servedModel, instance.Address, info.EngineKind, info.TotalKvBlocks, info.BlockSize, maxContext);
        return new WorkerHost(app, gate, registration, instance, options.DrainTimeout, logger);
    }

    /// <summary>
    /// Graceful drain: leaves discovery first (so routers stop sending here), then answers 503 to <c>/health</c> and to
    /// new requests, lets in-flight requests finish for up to <see cref="WorkerOptions.DrainTimeout"/> (or until
    /// <paramref name="cancellationToken"/> fires), cancels what is left, and stops Kestrel. Idempotent.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        lock (_stopLock)
        {
            return _stopping ??= StopCoreAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _gate.Dispose();
    }

    private async Task StopCoreAsync(CancellationToken cancellationToken)
    {
        await _registration.DisposeAsync().ConfigureAwait(false);
        var idle = _gate.BeginDrain();
        WorkerLog.Draining(_logger, Instance.InstanceId, _drainTimeout, _gate.Inflight);
        try
        {
            await idle.WaitAsync(_drainTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            WorkerLog.DrainTimedOut(_logger, Instance.InstanceId, _drainTimeout, _gate.Inflight);
            _gate.CancelInflight();
        }

        if (!idle.IsCompleted)
        {
            // Cancelled requests unwind in moments; Kestrel's own shutdown timeout bounds the rest.
            await Task.WhenAny(idle, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false);
        }

        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        WorkerLog.Stopped(_logger, Instance.InstanceId);
    }

    private static WebApplication BuildApp(WorkerOptions options, ILoggerFactory loggerFactory, Llm.Protocol.RequestLimits limits)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ApplicationName = typeof(WorkerHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new ForwardingLoggerProvider(loggerFactory));
        if (!options.LogRequests)
        {
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        }

        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);

        // Ctrl-C belongs to whoever hosts the workers (the CLI drains them in order), not to each Kestrel.
        builder.Services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = GenerationHandler.DrainLimit(limits);
            kestrel.Listen(IPAddress.Parse(options.Host), options.Port);
        });
        return builder.Build();
    }

    private static void MapEndpoints(
        WebApplication app, GenerationHandler handler, DrainGate gate, WorkerMetrics metrics, IEngine engine, string instanceId, WorkerRole role, string servedModel)
    {
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var models = new ModelList([new ModelCardOut(servedModel, created, "dynamo")]);
        app.UseOpenAiErrorBodies();
        app.Map("/v1/completions", OpenAiErrors.Allow("POST", OpenAiErrors.JsonOnly(handler.CompletionsAsync)));
        app.Map("/v1/chat/completions", OpenAiErrors.Allow("POST", OpenAiErrors.JsonOnly(handler.ChatAsync)));
        app.MapPost("/v1/kv_transfer/release", new RequestDelegate(handler.ReleaseKvTransferAsync));
        app.MapGet("/health", context => gate.IsDraining
            ? WriteJsonAsync(context, 503, static w => w.WriteString("status", "draining"))
            : WriteJsonAsync(context, 200, static w => w.WriteString("status", "ready")));
        app.MapGet("/live", context => WriteJsonAsync(context, 200, static w => w.WriteString("status", "live")));
        app.MapGet("/load", context =>
        {
            var load = engine.GetLoad();
            return WriteJsonAsync(context, 200, w => WriteLoad(w, load, gate, instanceId, role));
        });
        app.MapGet("/v1/models", context =>
        {
            context.Response.ContentType = "application/json";
            return context.Response.WriteAsJsonAsync(models, OpenAiJsonContext.Default.ModelList, contentType: "application/json", context.RequestAborted);
        });
        app.MapGet("/metrics", async context =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        });
        app.MapFallback(context => HttpErrors.WriteAsync(context, HttpErrors.NotFound(context.Request)));
    }

    /// <summary>
    /// The router's control calls over the worker contract (HTTP, like everything else a worker serves), in
    /// <see cref="KvEventJson"/>'s wire form: <c>GET /v1/kv/events?from=A&amp;to=B</c> answers
    /// <c>{"available","oldest_event_id","last_event_id","events"}</c>; <c>GET /v1/kv/dump</c> answers
    /// <c>{"last_event_id","events"}</c>.
    /// </summary>
    private static void MapKvEndpoints(WebApplication app, IKvEventSource? kvEvents)
    {
        app.MapGet("/v1/kv/events", context =>
        {
            if (kvEvents is null)
            {
                return HttpErrors.WriteAsync(context, NoKvEvents());
            }

            var query = context.Request.Query;
            foreach (var name in (ReadOnlySpan<string>)["from", "to"])
            {
                var text = query[name].ToString();
                if (!TryParseId(text, 0, out _))
                {
                    var shown = text.Length > 40 ? text[..40] + "..." : text;
                    return HttpErrors.WriteAsync(context, new OpenAiException(400,
                        $"Invalid value for '{name}': expected an event id (an integer >= 0), got '{shown}'.", "invalid_request_error", name));
                }
            }

            TryParseId(query["from"], 1, out var from);
            TryParseId(query["to"], long.MaxValue, out var to);

            var replay = kvEvents.GetEvents(from, to);
            return WriteJsonAsync(context, 200, w =>
            {
                w.WriteBoolean("available", replay.IsAvailable);
                w.WriteNumber("oldest_event_id", replay.OldestEventId);
                w.WriteNumber("last_event_id", replay.LastEventId);
                w.WritePropertyName("events");
                KvEventJson.WriteArray(w, replay.Events);
            });
        });
        app.MapGet("/v1/kv/dump", context =>
        {
            if (kvEvents is null)
            {
                return HttpErrors.WriteAsync(context, NoKvEvents());
            }

            var dump = kvEvents.Dump();
            return WriteJsonAsync(context, 200, w =>
            {
                w.WriteNumber("last_event_id", dump.LastEventId);
                w.WritePropertyName("events");
                KvEventJson.WriteArray(w, dump.Events);
            });
        });

        static OpenAiException NoKvEvents() =>
            new(404, "This worker's engine publishes no KV events.", "invalid_request_error", code: "kv_events_unavailable");

        static bool TryParseId(string? text, long fallback, out long id)
        {
            if (string.IsNullOrEmpty(text))
            {
                id = fallback;
                return true;
            }

            return long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out id);
        }
    }

    /// <summary><c>GET /load</c>: the engine's load plus the HTTP side's, in snake_case.</summary>
    private static void WriteLoad(Utf8JsonWriter w, EngineLoad load, DrainGate gate, string instanceId, WorkerRole role)
    {
        w.WriteString("instance_id", instanceId);
        w.WriteString("role", RoleName(role));
        w.WriteBoolean("draining", gate.IsDraining);
        w.WriteNumber("inflight_http_requests", gate.Inflight);
        w.WriteNumber("running_requests", load.RunningRequests);
        w.WriteNumber("waiting_requests", load.WaitingRequests);
        w.WriteNumber("kv_blocks_used", load.KvBlocksUsed);
        w.WriteNumber("kv_blocks_total", load.KvBlocksTotal);
        w.WriteNumber("kv_usage", load.KvUsage);
        w.WriteNumber("prefix_cache_hit_rate", load.PrefixCacheHitRate);
    }

    private static async Task WriteJsonAsync(HttpContext context, int status, Action<Utf8JsonWriter> writeProperties)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.Headers.CacheControl = "no-store";
        using (var writer = new Utf8JsonWriter(response.BodyWriter))
        {
            writer.WriteStartObject();
            writeProperties(writer);
            writer.WriteEndObject();
        }

        await response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private static bool IsWildcard(string host) =>
        IPAddress.TryParse(host, out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any));

    internal static string RoleName(WorkerRole role) => role switch
    {
        WorkerRole.Aggregated => "aggregated",
        WorkerRole.Prefill => "prefill",
        WorkerRole.Decode => "decode",
        _ => role.ToString().ToLowerInvariant(),
    };

    /// <summary>A lifetime that neither hooks Ctrl-C nor stops the process: the worker is one part of a bigger host.</summary>
    private sealed class EmbeddedHostLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
