using System.Net;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Gateway.Models;
using Dynamo.Gateway.Tests.Infrastructure;
using Dynamo.Llm;
using Dynamo.Router;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Security;
using Microsoft.Extensions.Logging;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// A worker started with another model than the frontend's never gets a request. The frontend says so as a warning
/// naming both models (for a worker already in discovery when it starts and for one that joins later), and its
/// <c>/health</c> does not count such a worker as serving.
/// </summary>
public sealed class ModelMismatchTests
{
    [Fact]
    public async Task WorkerOfAnotherModel_IsAWarningNamingBothModels_AndNotCountedHealthy()
    {
        var card = ModelCard.Load(await TestCluster.TinyModelAsync(), "tiny");
        var models = new ModelCatalog();
        models.Add(card);
        var discovery = new InProcessDiscovery();
        await using var early = await discovery.RegisterAsync(Instance("w-early", "llama-3-8b"));
        var log = new LogCapture();
        using var factory = log.CreateFactory();

        await using var gateway = await GatewayHost.StartAsync(new GatewayOptions { Port = 0 }, RouterFactory.Create(new RouterOptions()), discovery, models, ClusterSecret.Generate(), factory);
        await using var late = await discovery.RegisterAsync(Instance("w-late", "qwen-7b"));
        using var client = new HttpClient { BaseAddress = gateway.Address };

        using var health = await client.GetAsync("health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("""{"status":"unhealthy","instances":0,"other_models":2}""", await health.Content.ReadAsStringAsync());
        foreach (var (worker, model) in new[] { ("w-early", "llama-3-8b"), ("w-late", "qwen-7b") })
        {
            var warning = Assert.Single(log.Entries, e => e.Message.Contains($"Worker {worker} ", StringComparison.Ordinal));
            Assert.Equal(LogLevel.Warning, warning.Level);
            Assert.Contains($"serves model '{model}', which this frontend does not serve (it serves 'tiny')", warning.Message, StringComparison.Ordinal);
            Assert.Contains("--served-model-name", warning.Message, StringComparison.Ordinal);
        }

        // A worker of the frontend's own model joins: healthy, counted; no warning for it.
        await using var matching = await discovery.RegisterAsync(Instance("w-tiny", "tiny"));
        using var healthy = await client.GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
        Assert.Equal("""{"status":"healthy","instances":1,"other_models":2}""", await healthy.Content.ReadAsStringAsync());
        Assert.DoesNotContain(log.Entries, e => e.Message.Contains("Worker w-tiny ", StringComparison.Ordinal) && e.Level >= LogLevel.Warning);
    }

    private static WorkerInstance Instance(string id, string model) => new()
    {
        InstanceId = id,
        Model = model,
        Role = WorkerRole.Aggregated,
        Address = new Uri("http://127.0.0.1:9/"),
        BlockSize = 16,
        TotalKvBlocks = 1024,
        MaxContextLength = 4096,
    };
}
