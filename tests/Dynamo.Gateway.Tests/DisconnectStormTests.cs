using System.Net;
using System.Text.Json.Nodes;
using Dynamo.Gateway.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Dynamo.Gateway.Tests;

/// <summary>R5: many clients leaving mid-stream at once free every block they held.</summary>
public sealed class DisconnectStormTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TwoHundredClientsDisconnectAtOnce_WorkersReturnToIdleBlocks()
    {
        await using var cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Mocker:ZeroDelay"] = "false",
            ["Dynamo:Serve:Workers"] = "2",
        });
        var idle = await UsedBlocksAsync(cluster);

        // A client that leaves closes its connection. HttpClient's default instead drains an unread response for up to
        // 2 s (ResponseDrainTimeout) to reuse the connection, which would measure the client, not the cluster.
        using var clients = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0, MaxConnectionsPerServer = 256 })
        {
            BaseAddress = cluster.Address,
        };
        var responses = await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = Json.Body(new { model = cluster.Model, prompt = $"client {i} tells a long story", max_tokens = 2000, ignore_eos = true, stream = true }),
            };
            var response = await clients.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return response;
        }));
        Assert.True(await UsedBlocksAsync(cluster) > idle, "the streams hold blocks while they run");

        foreach (var response in responses)
        {
            response.Dispose();
        }

        var left = System.Diagnostics.Stopwatch.StartNew();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        int used;
        while ((used = await UsedBlocksAsync(cluster)) > idle)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{used} blocks still in use 5 s after 200 clients left (idle level {idle})");
            await Task.Delay(20);
        }

        output.WriteLine($"R5: blocks back to the idle level {left.Elapsed.TotalMilliseconds:F0} ms after 200 clients left");
    }

    private static async Task<int> UsedBlocksAsync(TestCluster cluster)
    {
        var total = 0;
        foreach (var worker in cluster.Cluster.Workers)
        {
            var load = JsonNode.Parse(await cluster.WorkerClient.GetStringAsync(new Uri(worker.Address, "load")))!;
            total += load["kv_blocks_used"]!.GetValue<int>();
        }

        return total;
    }
}
