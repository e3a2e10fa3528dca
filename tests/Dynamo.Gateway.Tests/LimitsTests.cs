using System.Net;
using System.Text.Json.Nodes;
using Dynamo.Gateway.Models;
using Dynamo.Gateway.Tests.Infrastructure;
using Dynamo.Llm;
using Dynamo.Router;
using Dynamo.Runtime.Discovery;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Gateway.Tests;

/// <summary>Configured limits answer 429 and 503 in OpenAI's shape; a client that leaves cancels its generation.</summary>
public sealed class LimitsTests
{
    private static readonly Dictionary<string, string?> RealTime = new()
    {
        ["Dynamo:Mocker:ZeroDelay"] = "false",
        ["Dynamo:Serve:Workers"] = "1",
    };

    [Fact]
    public async Task OverConcurrencyAndQueue_Is429WithRetryAfter()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>(RealTime)
        {
            ["Dynamo:Gateway:MaxConcurrentRequests"] = "1",
            ["Dynamo:Gateway:MaxQueuedRequests"] = "0",
        });
        using var first = await StartStreamAsync(cluster, maxTokens: 400);

        using var second = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt = "second", max_tokens = 2 });

        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.True(second.Headers.RetryAfter is not null, "Retry-After header");
        Json.AssertOpenAiError(await Json.ReadAsync(second));
    }

    [Fact]
    public async Task NoWorker_Is503()
    {
        var discovery = new InProcessDiscovery();
        var models = new ModelCatalog();
        models.Add(ModelCard.Load(await TestCluster.TinyModelAsync(), "tiny"));
        await using var gateway = await GatewayHost.StartAsync(
            new GatewayOptions { Port = 0 }, RouterFactory.Create(new RouterOptions()), discovery, models, Runtime.Security.ClusterSecret.Generate(), NullLoggerFactory.Instance);
        using var client = new HttpClient { BaseAddress = gateway.Address };

        using var response = await Json.PostAsync(client, "v1/completions", new { model = "tiny", prompt = "anyone?", max_tokens = 2 });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Json.AssertOpenAiError(await Json.ReadAsync(response));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("health")).StatusCode);
    }

    [Fact]
    public async Task ClientDisconnect_CancelsGenerationOnTheWorker()
    {
        await using var cluster = await TestCluster.StartAsync(RealTime);
        var worker = cluster.Cluster.Workers[0];
        using (var stream = await StartStreamAsync(cluster, maxTokens: 2000))
        {
            Assert.Equal(1, await RunningAsync(cluster, worker.Address));
        }

        // The response is gone: the gateway's connection to the worker closes and the engine drops the sequence.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (await RunningAsync(cluster, worker.Address) > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the worker still runs the abandoned request 10 s after the client left");
            await Task.Delay(50);
        }
    }

    /// <summary>Starts a streamed completion and returns once its first token chunk has arrived.</summary>
    private static async Task<HttpResponseMessage> StartStreamAsync(TestCluster cluster, int maxTokens)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = Json.Body(new { model = cluster.Model, prompt = "a long story", max_tokens = maxTokens, stream = true, ignore_eos = true }),
        };
        var response = await cluster.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("data: ", line);
        return response;
    }

    private static async Task<int> RunningAsync(TestCluster cluster, Uri worker)
    {
        var load = JsonNode.Parse(await cluster.WorkerClient.GetStringAsync(new Uri(worker, "load")))!;
        return load["running_requests"]!.GetValue<int>();
    }
}
