using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Dynamo.Engine.Mocker;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Security;
using Dynamo.Runtime.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Dynamo.Worker.Tests.Infrastructure;

/// <summary>
/// A real worker on 127.0.0.1:0 with the mocker engine, a GPT-2 model card, in-process discovery and a client that
/// signs its requests with the worker's cluster secret, as a frontend does.
/// </summary>
internal sealed class TestWorker : IAsyncDisposable
{
    private TestWorker(WorkerHost host, MockerEngine engine, InProcessDiscovery discovery, HttpClient client, CapturingLoggerProvider log, ILoggerFactory loggerFactory)
    {
        Log = log;
        _loggerFactory = loggerFactory;
        Host = host;
        Engine = engine;
        Discovery = discovery;
        Client = client;
    }

    private readonly ILoggerFactory _loggerFactory;

    public WorkerHost Host { get; }

    /// <summary>Warnings and errors the worker logged.</summary>
    public CapturingLoggerProvider Log { get; }

    public MockerEngine Engine { get; }

    public InProcessDiscovery Discovery { get; }

    public HttpClient Client { get; }

    /// <summary>The secret the worker requires of every request (one per test run).</summary>
    public static ClusterSecret Secret { get; } = ClusterSecret.Generate();

    /// <summary>Zero-delay mocker unless <paramref name="configureMocker"/> says otherwise.</summary>
    public static async Task<TestWorker> StartAsync(Action<MockerOptions>? configureMocker = null, Action<WorkerOptions>? configureWorker = null)
    {
        var mocker = new MockerOptions
        {
            ModelName = TestModel.Name,
            VocabSize = TestModel.VocabSize,
            EosTokenIds = [TestModel.EosTokenId],
            MaxContextLength = TestModel.MaxContextLength,
            TotalKvBlocks = 1024,
            ZeroDelay = true,
        };
        configureMocker?.Invoke(mocker);
        var engine = new MockerEngine(mocker, null, null, null);
        var options = new WorkerOptions { InstanceId = "w-" + Guid.NewGuid().ToString("N")[..8] };
        configureWorker?.Invoke(options);
        var discovery = new InProcessDiscovery();
        var log = new CapturingLoggerProvider();
        var loggerFactory = LoggerFactory.Create(b => b.AddProvider(log));
        var host = await WorkerHost.StartAsync(options, engine, TestModel.LoadCard(), discovery, Secret, loggerFactory, CancellationToken.None);
        var client = new HttpClient(new ClusterCredentialHandler(Secret, new SocketsHttpHandler())) { BaseAddress = host.Address, Timeout = TimeSpan.FromSeconds(30) };
        return new TestWorker(host, engine, discovery, client, log, loggerFactory);
    }

    public Task<HttpResponseMessage> PostAsync(string path, string json, CancellationToken cancellationToken = default) =>
        PostAsync(path, json, HttpCompletionOption.ResponseContentRead, cancellationToken);

    public Task<HttpResponseMessage> PostAsync(string path, string json, HttpCompletionOption completion, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        return Client.SendAsync(request, completion, cancellationToken);
    }

    public async Task<JsonElement> PostJsonAsync(string path, string json)
    {
        using var response = await PostAsync(path, json);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path} answered {(int)response.StatusCode}: {body}\n{Log}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Posts and reads the whole SSE stream: the JSON of every <c>data:</c> event, and whether <c>[DONE]</c> ended it.</summary>
    public async Task<SseResult> PostStreamAsync(string path, string json)
    {
        using var response = await PostAsync(path, json, HttpCompletionOption.ResponseHeadersRead);
        Assert.True(response.IsSuccessStatusCode, $"{path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}\n{Log}");
        return await Sse.ReadAllAsync(response);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Host.DisposeAsync();
        await Engine.DisposeAsync();
        _loggerFactory.Dispose();
    }
}

internal sealed record SseResult(MediaTypeHeaderValue? ContentType, IReadOnlyList<JsonElement> Events, bool Done, string Raw);

internal static class Sse
{
    public static async Task<SseResult> ReadAllAsync(HttpResponseMessage response, CancellationToken cancellationToken = default)
    {
        var raw = await response.Content.ReadAsStringAsync(cancellationToken);
        var events = new List<JsonElement>();
        var done = false;
        foreach (var block in raw.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.StartsWith("data: ", block);
            Assert.False(done, "an event came after [DONE]");
            var data = block["data: ".Length..];
            if (data == "[DONE]")
            {
                done = true;
                continue;
            }

            events.Add(JsonDocument.Parse(data).RootElement.Clone());
        }

        Assert.EndsWith("\n\n", raw);
        return new SseResult(response.Content.Headers.ContentType, events, done, raw);
    }

    /// <summary>Reads lines until the first <c>data:</c> event and returns its JSON, leaving the stream open.</summary>
    public static async Task<JsonElement> ReadFirstEventAsync(StreamReader reader, CancellationToken cancellationToken)
    {
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                return JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone();
            }
        }

        throw new InvalidOperationException("The stream ended before its first event.");
    }
}

internal static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for {what}.");
            }

            await Task.Delay(10);
        }
    }
}
