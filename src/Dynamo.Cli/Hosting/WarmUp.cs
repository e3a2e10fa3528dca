using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dynamo.Cli.Configuration;
using Dynamo.Contracts;
using Dynamo.Contracts.Engine;
using Dynamo.Engine.Mocker;
using Dynamo.Gateway;
using Dynamo.Gateway.Models;
using Dynamo.Llm;
using Dynamo.Router;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Events;
using Dynamo.Runtime.Security;
using Dynamo.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Cli.Hosting;

/// <summary>What a warm-up pass did: how many requests it sent and how long it took.</summary>
public sealed record WarmUpReport(int Requests, TimeSpan Duration);

/// <summary>
/// The warm-up pass run before a process reports ready (<c>Dynamo:Serve:WarmUp</c>): a few real requests through the
/// whole serving path, so the JIT has compiled it before the first user request. The requests go to <b>private</b>
/// hosts over the real engines: workers and (for <c>serve</c>) a gateway and router of their own, on loopback ports
/// nobody else is told about, in a discovery of their own, stopped before the real ones start. The code they run is the
/// code the real hosts run (compiled code is per process, not per host), but nothing of the real hosts sees them: their
/// request metrics, the router's load and the gateway's and workers' <c>/health</c> start from nothing.
/// </summary>
/// <remarks>
/// What stays: the engine computed the warm-up prompts (random words, so no user prompt shares them), so its prefix
/// cache may keep their few blocks, their KV events reach the routers like any other, and the engine's own
/// prefix-cache hit rate since start counts their lookups.
/// </remarks>
internal static partial class WarmUp
{
    /// <summary>Rounds of the request set; later rounds run what the first compiled, as the 2nd..5th user requests would.</summary>
    private const int Rounds = 2;

    /// <summary>Generated tokens per warm-up request: enough for prefill, a few decode steps and their chunks.</summary>
    private const int MaxTokens = 4;

    /// <summary>
    /// <c>serve</c>: a private worker over each engine of <paramref name="workers"/> and a private gateway (with a router
    /// of the configured kind) in front; chat and completions, streamed and whole, through it. Disaggregated engines
    /// take a remote prefill (the private gateway prefills remotely from the first token) and its KV transfer.
    /// </summary>
    public static async Task<WarmUpReport> ClusterAsync(
        ClusterSettings settings, ModelCard card, IReadOnlyList<(WorkerRole Role, string InstanceId, IEngine Engine)> workers,
        ClusterSecret secret, ILogger logger, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        LogWarmingUp(logger, "a private gateway and private workers over the engines", 4 * Rounds);
        var discovery = new InProcessDiscovery();
        var events = new InProcessEventPlane();
        var hosts = new List<WorkerHost>();
        var router = RouterFactory.Create(settings.Router, new RouterServices { Events = events, Discovery = discovery, LoggerFactory = NullLoggerFactory.Instance, ClusterSecret = secret });
        GatewayHost? gateway = null;
        try
        {
            foreach (var (role, instanceId, engine) in workers)
            {
                hosts.Add(await StartPrivateWorkerAsync(new WorkerOptions { Role = role, ServedModelName = card.Name, InstanceId = instanceId }, engine, card, discovery, secret, cancellationToken));
            }

            var options = new GatewayOptions
            {
                Host = "127.0.0.1",
                Port = 0,
                // Short prompts take the remote prefill path too, so its code is compiled with the rest.
                Disaggregation = new Gateway.Disaggregation.DisaggregationOptions { MinRemotePrefillTokens = 1, MinUncachedFraction = 0 },
            };
            var models = new ModelCatalog();
            models.Add(card);
            gateway = await GatewayHost.StartAsync(options, router, discovery, models, secret, NullLoggerFactory.Instance, cancellationToken: cancellationToken);
            using var client = new HttpClient { BaseAddress = gateway.Address, Timeout = TimeSpan.FromMinutes(2) };
            var requests = await SendAsync(client, card.Name, textCompletions: true, cancellationToken);
            var report = new WarmUpReport(requests, Stopwatch.GetElapsedTime(started));
            LogWarmedUp(logger, report.Duration.TotalMilliseconds, report.Requests);
            return report;
        }
        finally
        {
            if (gateway is not null)
            {
                await gateway.DisposeAsync();
            }

            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }

            if (router is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// <c>frontend</c>: the deployment's workers are other processes (maybe not started yet), so a private worker over a
    /// zero-delay mocker engine that poses as <paramref name="card"/>'s model stands behind a private gateway with a router
    /// of the configured kind, and <see cref="ClusterAsync"/> sends its request set through them. The gateway's own path
    /// runs as it will for users (parsing, the model's chat template and tokenizer, admission, routing, YARP's forwarder
    /// and its HTTP client with the cluster credential, the stream relay, the whole and the streamed writers); the engine
    /// is not the deployment's, whose code runs in the workers' processes, not this one.
    /// </summary>
    public static async Task<WarmUpReport> FrontendAsync(ClusterSettings settings, ModelCard card, ClusterSecret secret, ILogger logger, CancellationToken cancellationToken)
    {
        var mocker = new MockerOptions
        {
            ModelName = card.Name,
            WorkerId = "warm-up",
            VocabSize = card.VocabSize,
            EosTokenIds = [.. card.EosTokenIds],
            MaxContextLength = card.MaxContextLength,
            ZeroDelay = true,
        };
        await using var engine = new MockerEngine(mocker, TimeProvider.System, null, NullLogger<MockerEngine>.Instance);
        return await ClusterAsync(settings, card, [(WorkerRole.Aggregated, "warm-up", engine)], secret, logger, cancellationToken);
    }

    /// <summary>
    /// <c>worker</c>: a private worker over <paramref name="engine"/>; chat with text and completions with token ids
    /// (what a frontend sends), streamed and whole, straight to it with the cluster credential.
    /// </summary>
    public static async Task<WarmUpReport> WorkerAsync(WorkerOptions options, IEngine engine, ModelCard card, ClusterSecret secret, ILogger logger, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        LogWarmingUp(logger, "a private worker over the engine", 4 * Rounds);
        var model = options.ServedModelName ?? card.Name;
        var copy = new WorkerOptions
        {
            Role = options.Role,
            ServedModelName = model,
            InstanceId = options.InstanceId,
            RequestLimits = options.RequestLimits,
            LogRequests = options.LogRequests,
        };
        await using var host = await StartPrivateWorkerAsync(copy, engine, card, new InProcessDiscovery(), secret, cancellationToken);
        using var client = new HttpClient(new ClusterCredentialHandler(secret, new SocketsHttpHandler { UseProxy = false }))
        {
            BaseAddress = host.Address,
            Timeout = TimeSpan.FromMinutes(2),
        };
        var requests = await SendAsync(client, model, textCompletions: false, cancellationToken);
        var report = new WarmUpReport(requests, Stopwatch.GetElapsedTime(started));
        LogWarmedUp(logger, report.Duration.TotalMilliseconds, report.Requests);
        return report;
    }

    /// <summary>Logs a warm-up that failed and lets start-up go on: the process serves, only its first requests are slower.</summary>
    public static void Failed(ILogger logger, Exception error) => LogFailed(logger, error.Message, error);

    private static Task<WorkerHost> StartPrivateWorkerAsync(WorkerOptions options, IEngine engine, ModelCard card, InProcessDiscovery discovery, ClusterSecret secret, CancellationToken cancellationToken)
    {
        options.Host = "127.0.0.1";
        options.Port = 0;
        options.AdvertisedHost = null;
        options.LoadReportInterval = TimeSpan.Zero;
        return WorkerHost.StartAsync(options, engine, card, discovery, secret, NullLoggerFactory.Instance, EngineFactory.EventSourceOf(engine), cancellationToken);
    }

    /// <summary>Chat and completions, streamed and whole, <see cref="Rounds"/> times; each answer read to its end.</summary>
    private static async Task<int> SendAsync(HttpClient client, string model, bool textCompletions, CancellationToken cancellationToken)
    {
        var sent = 0;
        for (var round = 0; round < Rounds; round++)
        {
            foreach (var stream in new[] { true, false })
            {
                var chat = new JsonObject
                {
                    ["model"] = model,
                    ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = RandomWords() }),
                    ["max_tokens"] = MaxTokens,
                    ["stream"] = stream,
                };
                await PostAsync(client, "v1/chat/completions", chat, cancellationToken);
                var completion = new JsonObject
                {
                    ["model"] = model,
                    ["prompt"] = textCompletions ? RandomWords() : new JsonArray([.. RandomTokens()]),
                    ["max_tokens"] = MaxTokens,
                    ["stream"] = stream,
                };
                await PostAsync(client, "v1/completions", completion, cancellationToken);
                sent += 2;
            }
        }

        return sent;
    }

    private static async Task PostAsync(HttpClient client, string path, JsonObject body, CancellationToken cancellationToken)
    {
        using var response = await client.PostAsJsonAsync(path, body, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"warm-up request to /{path} answered {(int)response.StatusCode}: {(text.Length > 300 ? text[..300] : text)}");
        }
    }

    /// <summary>A prompt no user sends: random letters, so the blocks it leaves in the prefix cache match nothing else.</summary>
    private static string RandomWords() =>
        "warm-up " + string.Join(' ', Enumerable.Range(0, 24).Select(_ => new string([.. Enumerable.Range(0, 5).Select(_ => (char)('a' + Random.Shared.Next(26)))])));

    /// <summary>Random token ids in a range every vocabulary has.</summary>
    private static IEnumerable<JsonNode?> RandomTokens() => Enumerable.Range(0, 48).Select(_ => (JsonNode?)JsonValue.Create(Random.Shared.Next(1, 200)));

    [LoggerMessage(Level = LogLevel.Information, Message = "Warming up: {Requests} requests through {Path} before reporting ready (Dynamo:Serve:WarmUp; they are not counted in metrics)")]
    private static partial void LogWarmingUp(ILogger logger, string path, int requests);

    [LoggerMessage(Level = LogLevel.Information, Message = "Warm-up took {Milliseconds:F0} ms ({Requests} requests)")]
    private static partial void LogWarmedUp(ILogger logger, double milliseconds, int requests);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm-up failed ({Reason}); starting without it: the first requests compile the serving path")]
    private static partial void LogFailed(ILogger logger, string reason, Exception error);
}
