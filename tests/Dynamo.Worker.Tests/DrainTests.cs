using System.Net;
using System.Text.Json;
using Dynamo.Contracts.Discovery;
using Dynamo.Worker.Tests.Infrastructure;

namespace Dynamo.Worker.Tests;

public sealed class DrainTests
{
    // Real-time mocker: about 10 ms per decode step, so 80 tokens take most of a second.
    private static void Slow(Engine.Mocker.MockerOptions o) => o.ZeroDelay = false;

    [Fact]
    public async Task Stop_UnregistersFirst_RefusesNewRequests_AndLetsInflightOnesFinish()
    {
        await using var w = await TestWorker.StartAsync(Slow);
        bool? drainingWhenRemoved = null;
        w.Discovery.Changed += change =>
        {
            if (change.Kind == DiscoveryChangeKind.Removed)
            {
                drainingWhenRemoved = w.Host.IsDraining;
            }
        };

        using var inflight = await w.PostAsync("/v1/completions",
            """{"model":"test-model","prompt":[1,2,3,4],"max_tokens":80,"stream":true}""", HttpCompletionOption.ResponseHeadersRead);
        var stream = await inflight.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        await Sse.ReadFirstEventAsync(reader, CancellationToken.None);

        var stopping = w.Host.StopAsync();

        Assert.Empty(w.Discovery.GetInstances());
        Assert.False(drainingWhenRemoved, "the worker must leave discovery before it starts refusing requests");
        Assert.True(w.Host.IsDraining);
        using (var health = await w.Client.GetAsync("/health"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            Assert.Equal("draining", JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
        }

        using (var refused = await w.PostAsync("/v1/completions", """{"model":"test-model","prompt":[1],"max_tokens":1}"""))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("worker_draining", JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString());
        }

        Assert.False(stopping.IsCompleted, "stop must wait for the in-flight stream");
        var rest = await reader.ReadToEndAsync();
        Assert.EndsWith("data: [DONE]\n\n", rest);
        Assert.Contains("\"finish_reason\":\"length\"", rest);
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Stop_AfterDrainTimeout_CancelsInflightAndFreesBlocks()
    {
        await using var w = await TestWorker.StartAsync(Slow, o => o.DrainTimeout = TimeSpan.FromMilliseconds(200));
        using var inflight = await w.PostAsync("/v1/completions",
            """{"model":"test-model","prompt":[1,2,3,4],"max_tokens":2000,"stream":true}""", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await inflight.Content.ReadAsStreamAsync());
        await Sse.ReadFirstEventAsync(reader, CancellationToken.None);

        await w.Host.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));

        // The stream is cut without [DONE]: the gateway's signal to migrate the request.
        var rest = "";
        try
        {
            rest = await reader.ReadToEndAsync();
        }
        catch (IOException)
        {
        }

        Assert.DoesNotContain("[DONE]", rest);
        await Wait.UntilAsync(() => w.Engine.GetLoad() is { RunningRequests: 0, KvBlocksUsed: 0 }, "the cancelled sequence to free its blocks");
    }

    [Fact]
    public async Task Stop_IsIdempotent_AndDisposeAfterStopWorks()
    {
        var w = await TestWorker.StartAsync();
        var first = w.Host.StopAsync();
        var second = w.Host.StopAsync();
        Assert.Same(first, second);
        await first;
        await w.DisposeAsync();
        Assert.Empty(w.Discovery.GetInstances());
    }
}
