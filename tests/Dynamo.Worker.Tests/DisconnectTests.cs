using Dynamo.Worker.Tests.Infrastructure;

namespace Dynamo.Worker.Tests;

public sealed class DisconnectTests
{
    [Fact]
    public async Task ClientDisconnect_CancelsTheSequenceAndFreesItsBlocks()
    {
        await using var w = await TestWorker.StartAsync(o => o.ZeroDelay = false);
        using var cts = new CancellationTokenSource();
        var response = await w.PostAsync("/v1/completions",
            $$"""{"model":"test-model","prompt":{{CompletionsTests.Ids(64)}},"max_tokens":1500,"stream":true}""", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        await Sse.ReadFirstEventAsync(reader, cts.Token);
        Assert.True(w.Engine.GetLoad().KvBlocksUsed > 0, "the running sequence holds blocks");

        await cts.CancelAsync();
        reader.Dispose();
        response.Dispose();

        await Wait.UntilAsync(() => w.Engine.GetLoad() is { RunningRequests: 0, WaitingRequests: 0, KvBlocksUsed: 0 }, "the engine to free the disconnected request's blocks");
        await Wait.UntilAsync(() => w.Host.InflightRequests == 0, "the worker to finish the aborted request");
    }

    [Fact]
    public async Task ClientDisconnect_WithSeveralChoices_CancelsThemAll()
    {
        await using var w = await TestWorker.StartAsync(o => o.ZeroDelay = false);
        using var cts = new CancellationTokenSource();
        var response = await w.PostAsync("/v1/completions",
            $$"""{"model":"test-model","prompt":[{{CompletionsTests.Ids(40)}},{{CompletionsTests.Ids(40, 9000)}}],"n":2,"max_tokens":1500,"stream":true}""",
            HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        await Sse.ReadFirstEventAsync(reader, cts.Token);

        await cts.CancelAsync();
        reader.Dispose();
        response.Dispose();

        await Wait.UntilAsync(() => w.Engine.GetLoad() is { RunningRequests: 0, WaitingRequests: 0, KvBlocksUsed: 0 }, "all four sequences to free their blocks");
    }
}
