using System.Net;
using Dynamo.Engine.Mocker;
using Dynamo.Gateway.Models;
using Dynamo.Gateway.Tests.Infrastructure;
using Dynamo.Llm;
using Dynamo.Router;
using Dynamo.Runtime.Discovery;
using Dynamo.Runtime.Security;
using Dynamo.Worker;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// The gateway signs what it forwards with its cluster secret. A worker holding another secret refuses it, and the
/// client is told the deployment failed (503, the secret named), not that its own credentials were wrong (401).
/// </summary>
public sealed class ClusterCredentialTests
{
    [Fact]
    public async Task WorkerOfTheSameSecret_Serves_WorkerOfAnother_IsADeploymentFailureNotA401()
    {
        var card = ModelCard.Load(await TestCluster.TinyModelAsync(), "tiny");
        var discovery = new InProcessDiscovery();
        var workerSecret = ClusterSecret.Generate();
        await using var engine = new MockerEngine(new MockerOptions { ModelName = "tiny", VocabSize = card.VocabSize, EosTokenIds = [.. card.EosTokenIds], MaxContextLength = card.MaxContextLength, ZeroDelay = true });
        await using var worker = await WorkerHost.StartAsync(new WorkerOptions { InstanceId = "w", ServedModelName = "tiny" }, engine, card, discovery, workerSecret, NullLoggerFactory.Instance);
        var models = new ModelCatalog();
        models.Add(card);

        await using (var member = await GatewayHost.StartAsync(new GatewayOptions { Port = 0 }, RouterFactory.Create(new RouterOptions()), discovery, models, workerSecret, NullLoggerFactory.Instance))
        {
            using var client = new HttpClient { BaseAddress = member.Address };
            using var served = await Json.PostAsync(client, "v1/completions", new { model = "tiny", prompt = "hello", max_tokens = 2 });
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        await using var stranger = await GatewayHost.StartAsync(
            new GatewayOptions { Port = 0, MigrationLimit = 0 }, RouterFactory.Create(new RouterOptions()), discovery, models, ClusterSecret.Generate(), NullLoggerFactory.Instance);
        using var strangerClient = new HttpClient { BaseAddress = stranger.Address };

        using var refused = await Json.PostAsync(strangerClient, "v1/completions", new { model = "tiny", prompt = "hello", max_tokens = 2 });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        var body = await Json.ReadAsync(refused);
        Json.AssertOpenAiError(body);
        var error = (string)body["error"]!["message"]!;
        Assert.Contains("refused this frontend's cluster credential", error, StringComparison.Ordinal);
        Assert.Contains("Dynamo:Cluster:Secret", error, StringComparison.Ordinal);
    }
}
