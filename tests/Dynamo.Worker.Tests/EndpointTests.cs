using System.Net;
using System.Text.Json;
using Dynamo.Runtime.Observability;
using Dynamo.Worker.Tests.Infrastructure;

namespace Dynamo.Worker.Tests;

public sealed class EndpointTests
{
    [Fact]
    public async Task Start_RegistersTheBoundAddressAndEngineInfo()
    {
        await using var w = await TestWorker.StartAsync(configureWorker: o => o.Role = Dynamo.Contracts.WorkerRole.Decode);

        var instance = Assert.Single(w.Discovery.GetInstances());
        Assert.Equal(w.Host.Instance, instance);
        Assert.Equal("127.0.0.1", instance.Address.Host);
        Assert.NotEqual(0, instance.Address.Port);
        Assert.Equal("/", instance.Address.AbsolutePath);
        Assert.Equal(Dynamo.Contracts.WorkerRole.Decode, instance.Role);
        Assert.Equal("test-model", instance.Model);
        Assert.Equal(w.Engine.Info.BlockSize, instance.BlockSize);
        Assert.Equal(w.Engine.Info.TotalKvBlocks, instance.TotalKvBlocks);
        Assert.Equal(TestModel.MaxContextLength, instance.MaxContextLength);
    }

    [Fact]
    public async Task Health_IsReady()
    {
        await using var w = await TestWorker.StartAsync();

        using var response = await w.Client.GetAsync("/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ready", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
        using var live = await w.Client.GetAsync("/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Fact]
    public async Task Load_ReportsEngineLoadAndInflightRequests()
    {
        await using var w = await TestWorker.StartAsync();

        using var response = await w.Client.GetAsync("/load");
        var load = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(w.Host.Instance.InstanceId, load.GetProperty("instance_id").GetString());
        Assert.Equal("aggregated", load.GetProperty("role").GetString());
        Assert.False(load.GetProperty("draining").GetBoolean());
        Assert.Equal(0, load.GetProperty("inflight_http_requests").GetInt32());
        Assert.Equal(1024, load.GetProperty("kv_blocks_total").GetInt32());
        Assert.Equal(0, load.GetProperty("kv_blocks_used").GetInt32());
        Assert.Equal(0, load.GetProperty("running_requests").GetInt32());
        Assert.Equal(0, load.GetProperty("waiting_requests").GetInt32());
        Assert.Equal(0.0, load.GetProperty("kv_usage").GetDouble());
        Assert.True(load.TryGetProperty("prefix_cache_hit_rate", out _));
    }

    [Fact]
    public async Task Models_ListsTheServedModel()
    {
        await using var w = await TestWorker.StartAsync(configureWorker: o => o.ServedModelName = "served-name");

        using var response = await w.Client.GetAsync("/v1/models");
        var list = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal("list", list.GetProperty("object").GetString());
        var model = Assert.Single(list.GetProperty("data").EnumerateArray());
        Assert.Equal("served-name", model.GetProperty("id").GetString());
        Assert.Equal("model", model.GetProperty("object").GetString());
        Assert.Equal("served-name", w.Host.Instance.Model);
    }

    [Fact]
    public async Task Metrics_ExportsWorkerSeriesWithItsOwnLabels()
    {
        await using var a = await TestWorker.StartAsync();
        await using var b = await TestWorker.StartAsync();
        await a.PostJsonAsync("/v1/completions", """{"model":"test-model","prompt":[1,2,3],"max_tokens":4}""");

        using var response = await a.Client.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        foreach (var name in new[]
        {
            MetricNames.WorkerRequestsTotal, MetricNames.WorkerGeneratedTokensTotal, MetricNames.WorkerKvBlocksUsed, MetricNames.WorkerKvTotalBlocks,
            MetricNames.WorkerKvUsage, MetricNames.WorkerRunningRequests, MetricNames.WorkerQueueDepth, MetricNames.WorkerPrefixCacheHitRate,
        })
        {
            Assert.Contains("# TYPE " + name + " ", text);
        }

        Assert.Contains($"worker_id=\"{a.Host.Instance.InstanceId}\"", text);
        Assert.DoesNotContain(b.Host.Instance.InstanceId, text);
        Assert.Matches($"{MetricNames.WorkerKvTotalBlocks}{{[^}}]*}} 1024", text);
        Assert.Matches($"{MetricNames.WorkerGeneratedTokensTotal}{{[^}}]*}} 4", text);
        Assert.Matches($"{MetricNames.WorkerRequestsTotal}{{[^}}]*endpoint=\"completions\"[^}}]*status=\"200\"[^}}]*}} 1", text);
    }

    [Fact]
    public async Task Chat_NonStream_HasChatShape()
    {
        await using var w = await TestWorker.StartAsync();

        var r = await w.PostJsonAsync("/v1/chat/completions", """{"model":"test-model","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":5}""");

        Assert.StartsWith("chatcmpl-", r.GetProperty("id").GetString());
        Assert.Equal("chat.completion", r.GetProperty("object").GetString());
        var choice = Assert.Single(r.GetProperty("choices").EnumerateArray());
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.String, choice.GetProperty("message").GetProperty("content").ValueKind);
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(5, r.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.True(r.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 2);
    }

    [Fact]
    public async Task Chat_Stream_FirstChunkCarriesTheRole()
    {
        await using var w = await TestWorker.StartAsync();

        var sse = await w.PostStreamAsync("/v1/chat/completions",
            """{"model":"test-model","messages":[{"role":"user","content":"hi"}],"max_tokens":6,"stream":true,"stream_options":{"include_usage":true} }""");

        Assert.True(sse.Done);
        Assert.All(sse.Events, e => Assert.Equal("chat.completion.chunk", e.GetProperty("object").GetString()));
        var first = sse.Events[0].GetProperty("choices")[0];
        Assert.Equal("assistant", first.GetProperty("delta").GetProperty("role").GetString());
        var lastChoice = sse.Events[^2].GetProperty("choices")[0];
        Assert.Equal("length", lastChoice.GetProperty("finish_reason").GetString());
        Assert.Empty(sse.Events[^1].GetProperty("choices").EnumerateArray());
        Assert.Equal(6, sse.Events[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }
}
