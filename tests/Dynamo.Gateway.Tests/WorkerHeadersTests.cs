using System.Net;
using Dynamo.Contracts;
using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// The gateway names the workers that served a request in its response headers (what <c>dynamo bench</c> records
/// per request): the decode worker, and the prefill worker when one computed the prompt; none when
/// <c>Dynamo:Gateway:WorkerHeaders</c> is false.
/// </summary>
public sealed class WorkerHeadersTests
{
    [Fact]
    public async Task Disaggregated_NamesThePrefillAndTheDecodeWorker_StreamedOrNot()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Serve:Mode"] = "disagg",
            ["Dynamo:Serve:Workers"] = null,
            ["Dynamo:Serve:PrefillWorkers"] = "1",
            ["Dynamo:Serve:DecodeWorkers"] = "1",
            ["Dynamo:Gateway:Disaggregation:MinRemotePrefillTokens"] = "1",
            ["Dynamo:Gateway:Disaggregation:MinUncachedFraction"] = "0",
        });
        var decode = cluster.Cluster.Workers.Single(w => w.Instance.Role == WorkerRole.Decode).Instance.InstanceId;
        var prefill = cluster.Cluster.Workers.Single(w => w.Instance.Role == WorkerRole.Prefill).Instance.InstanceId;

        foreach (var (stream, salt) in new[] { (false, 1), (true, 2) })
        {
            int[] prompt = [.. Enumerable.Range(0, 64).Select(i => 1 + (((i * 7919) + (salt * 104729)) % 50000))];
            using var response = await Json.PostAsync(cluster.Client, "v1/completions", new { model = cluster.Model, prompt, max_tokens = 2, stream });
            await response.Content.ReadAsStringAsync();

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(decode, Assert.Single(response.Headers.GetValues(ResponseHeaders.Worker)));
            Assert.Equal(prefill, Assert.Single(response.Headers.GetValues(ResponseHeaders.PrefillWorker)));
        }
    }

    [Fact]
    public async Task Aggregated_NamesTheWorker_WithoutAPrefillWorker_AndOffMeansNone()
    {
        await using (var cluster = await TestCluster.StartAsync())
        {
            var workers = cluster.Cluster.Workers.Select(w => w.Instance.InstanceId).ToList();
            using var response = await Json.PostAsync(cluster.Client, "v1/chat/completions", new { model = cluster.Model, messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 2 });

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains(Assert.Single(response.Headers.GetValues(ResponseHeaders.Worker)), workers);
            Assert.False(response.Headers.Contains(ResponseHeaders.PrefillWorker));
        }

        await using (var quiet = await TestCluster.StartAsync(new Dictionary<string, string?> { ["Dynamo:Gateway:WorkerHeaders"] = "false" }))
        {
            using var response = await Json.PostAsync(quiet.Client, "v1/completions", new { model = quiet.Model, prompt = "hi", max_tokens = 2 });

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.False(response.Headers.Contains(ResponseHeaders.Worker));
            Assert.False(response.Headers.Contains(ResponseHeaders.PrefillWorker));
        }
    }
}
