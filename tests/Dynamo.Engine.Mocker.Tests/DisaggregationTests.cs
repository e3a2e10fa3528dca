using Dynamo.Contracts.Engine;
using Microsoft.Extensions.Time.Testing;
using static Dynamo.Engine.Mocker.Tests.TestSupport;

namespace Dynamo.Engine.Mocker.Tests;

/// <summary>
/// Prefill on one mocker, decode on another, with the real engine's contract: the tokens must be the aggregated
/// mocker's, the decode must wait the modeled transfer of what its prefix cache lacks, pins must be released, and
/// anything unusable must fall back to computing the prompt on the decode engine.
/// </summary>
public sealed class DisaggregationTests
{
    private const long BytesPerToken = 1000;

    private static MockerOptions Disagg(Action<MockerOptions>? configure = null) => Options(o =>
    {
        o.KvBytesPerToken = BytesPerToken;
        configure?.Invoke(o);
    });

    private static EngineRequest Prefill(EngineRequest request) => request with { KvTransfer = new KvTransferRequest { DoRemoteDecode = true } };

    private static EngineRequest Decode(EngineRequest request, RemoteKvBlocks remote) => request with { KvTransfer = new KvTransferRequest { RemotePrefill = remote } };

    private static async Task<RemoteKvBlocks> PrefillAsync(MockerEngine engine, EngineRequest request)
    {
        List<EngineOutput> outputs = await Within(CollectAsync(engine, Prefill(request)), "the prefill");
        EngineOutput last = Assert.Single(outputs);
        Assert.Equal(FinishReason.Length, last.Finish);
        return last.KvTransfer ?? throw new InvalidOperationException("the prefill returned no kv_transfer_params");
    }

    private static async Task<int[]> TokensAsync(MockerEngine engine, EngineRequest request, string what) =>
        [.. (await Within(CollectAsync(engine, request), what)).Select(o => o.TokenId)];

    public static TheoryData<bool> Sampled => [false, true];

    [Theory]
    [MemberData(nameof(Sampled))]
    public async Task PrefillThenDecode_EqualsAggregated(bool sampled)
    {
        await using var aggregated = new MockerEngine(Disagg());
        await using var prefill = new MockerEngine(Disagg(o => o.WorkerId = "prefill"));
        await using var decode = new MockerEngine(Disagg(o => o.WorkerId = "decode"));
        SamplingOptions sampling = sampled ? new SamplingOptions { Temperature = 0.8f, Seed = 42 } : new SamplingOptions { Temperature = 0 };
        foreach (int length in new[] { 3, 16, 37, 130 })
        {
            EngineRequest request = Request(Prompt(length, start: length), 12, sampling, id: $"r{length}");
            int[] expected = await TokensAsync(aggregated, request, "the aggregated run");

            RemoteKvBlocks remote = await PrefillAsync(prefill, request);
            Assert.Equal(prefill.KvTransferAgentName, remote.AgentName);
            Assert.EndsWith(":prefill", remote.AgentName);
            Assert.Equal(expected[0], remote.FirstToken);
            Assert.Equal(length, remote.PromptTokens);
            Assert.Equal((length + 15) / 16, remote.BlockIds.Length);
            Assert.Equal(16, remote.BlockSize);
            Assert.Equal(16 * BytesPerToken, remote.BlockBytes);
            Assert.Equal(1, prefill.PinnedTransfers);

            int[] decoded = await TokensAsync(decode, Decode(request, remote), "the disaggregated decode");

            Assert.Equal(expected, decoded);
            Assert.Equal(0, prefill.PinnedTransfers);
        }

        Assert.Equal((4L, 0L), decode.RemotePrefills);
        Assert.Equal((3L + 16 + 37 + 130) * BytesPerToken, decode.KvBytesTransferred);
        await WaitUntilAsync(prefill, () => prefill.GetLoad().KvBlocksUsed == 0, "the prefill engine to free every unpinned block");
        Assert.Equal(0, decode.GetLoad().KvBlocksUsed);
    }

    [Fact]
    public async Task Decode_RegistersThePromptInItsPrefixCache()
    {
        await using var prefill = new MockerEngine(Disagg());
        await using var decode = new MockerEngine(Disagg());
        EngineRequest request = Request(Prompt(50), 4);
        RemoteKvBlocks remote = await PrefillAsync(prefill, request);
        Assert.Equal(4, prefill.GetKvStats().UsedBlocks); // 50 tokens: 4 blocks, pinned

        await TokensAsync(decode, Decode(request, remote), "the disaggregated decode");
        List<EngineOutput> again = await Within(CollectAsync(decode, Request(Prompt(50), 1)), "the same prompt, aggregated");

        Assert.Equal(48, again[0].CachedTokens);
    }

    [Fact]
    public async Task Decode_WaitsTheModeledTransfer_AndAPrefixHitThereMovesLess()
    {
        var time = new FakeTimeProvider();
        await using var prefill = new MockerEngine(Disagg());
        await using var decode = new MockerEngine(Disagg(o =>
        {
            o.ZeroDelay = false;
            o.Performance = new PerformanceModel { PrefillBaseMs = 0, PrefillPerTokenMs = 0, PrefillQuadraticMs = 0, DecodeBaseMs = 0, DecodePerSeqMs = 0, DecodePerKvTokenMs = 0 };
            o.KvTransfer.Bandwidth = 1e6; // 1 ms per 1000-byte token
            o.KvTransfer.LatencyMs = 2;
        }), time);
        var transfers = System.Threading.Channels.Channel.CreateUnbounded<MockerTransfer>();
        decode.TransferStarted += t => transfers.Writer.TryWrite(t);
        int[] shared = Prompt(64, start: 1);

        async Task<List<EngineOutput>> DisaggregatedAsync(string id, int[] prompt, int expectedCached)
        {
            EngineRequest request = Request(prompt, 5, id: id);
            RemoteKvBlocks remote = await PrefillAsync(prefill, request);
            Task<List<EngineOutput>> decoded = CollectAsync(decode, Decode(request, remote));
            MockerTransfer transfer = await Within(transfers.Reader.ReadAsync().AsTask(), "the decode's transfer to start");
            int moved = prompt.Length - expectedCached;
            Assert.Equal(new MockerTransfer(id, expectedCached, moved, moved * BytesPerToken, TimeSpan.FromMilliseconds(2 + moved)), transfer);

            // Nothing else advances the clock: one tick short of the transfer time, the decode has produced nothing.
            await WaitUntilAsync(decode, () => decode.IsIdle, "the decode engine to idle while the KV moves");
            time.Advance(transfer.Delay - TimeSpan.FromTicks(1));
            await WaitUntilAsync(decode, () => decode.IsIdle, "the decode engine to stay idle");
            Assert.False(decoded.IsCompleted);
            time.Advance(TimeSpan.FromTicks(1));
            return await Within(decoded, "the decode after its transfer");
        }

        // The first decode leaves its prompt in the decode engine's prefix cache; the second shares its first 64 tokens.
        List<EngineOutput> cold = await DisaggregatedAsync("cold", [.. shared, .. Prompt(40, start: 500)], expectedCached: 0);
        List<EngineOutput> warm = await DisaggregatedAsync("warm", [.. shared, .. Prompt(40, start: 700)], expectedCached: 64);

        Assert.Equal(5, cold.Count);
        Assert.Equal(5, warm.Count);
        Assert.Equal(0, cold[0].CachedTokens);
        Assert.Equal(64, warm[0].CachedTokens);
        Assert.Equal((104L + 40) * BytesPerToken, decode.KvBytesTransferred);
        Assert.Equal((2L, 0L), decode.RemotePrefills);
    }

    [Fact]
    public async Task PinNobodyReads_IsReleasedAfterTheTimeout_AndALateDecodeComputesThePrompt()
    {
        var time = new FakeTimeProvider();
        await using var aggregated = new MockerEngine(Disagg());
        await using var prefill = new MockerEngine(Disagg(o => o.KvTransfer.PinTimeout = TimeSpan.FromSeconds(5)), time);
        await using var decode = new MockerEngine(Disagg());
        EngineRequest request = Request(Prompt(70), 6);
        int[] expected = await TokensAsync(aggregated, request, "the aggregated run");
        RemoteKvBlocks remote = await PrefillAsync(prefill, request);
        Assert.Equal(1, prefill.PinnedTransfers);
        Assert.Equal(5, prefill.GetKvStats().UsedBlocks);

        // Idle means its expiry timer is armed; no request comes to wake the loop.
        await WaitUntilAsync(prefill, () => prefill.IsIdle, "the prefill engine to idle with the pin held");
        time.Advance(TimeSpan.FromSeconds(5));
        await WaitUntilAsync(prefill, () => prefill.PinnedTransfers == 0 && prefill.GetKvStats().UsedBlocks == 0, "the unread pin to expire and its blocks to be freed");

        Assert.Equal(expected, await TokensAsync(decode, Decode(request, remote), "the decode after the pin expired"));
        Assert.Equal((0L, 1L), decode.RemotePrefills);
    }

    [Fact]
    public async Task PrefillThatEndsOnEos_ReturnsNoTransferAndPinsNothing()
    {
        await using var prefill = new MockerEngine(Disagg());
        int[] prompt = Prompt(10);
        int first = (await TokensAsync(prefill, Request(prompt, 1), "the first token"))[0];

        List<EngineOutput> outputs = await Within(CollectAsync(prefill, Prefill(Request(prompt, 5) with { StopTokenIds = [first] })), "the prefill");

        Assert.Equal(FinishReason.Stop, Assert.Single(outputs).Finish);
        Assert.Null(outputs[0].KvTransfer);
        Assert.Equal(0, prefill.PinnedTransfers);
    }

    public static TheoryData<string, Func<RemoteKvBlocks, RemoteKvBlocks>> Unusable() => new()
    {
        { "unknown agent", r => r with { AgentName = "nixl-agent-7" } },
        { "forged block ids", r => r with { BlockIds = [.. r.BlockIds.Select(b => b + 1)] } },
        { "unknown transfer id", r => r with { TransferId = "nobody.1" } },
        { "invented transfer token", r => r with { TransferToken = System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) } },
        { "malformed transfer token", r => r with { TransferToken = "not a token" } },
        { "another model's block bytes", r => r with { BlockBytes = r.BlockBytes * 2 } },
        { "another block size", r => r with { BlockSize = 32 } },
        { "another prompt length", r => r with { PromptTokens = r.PromptTokens + 1 } },
        { "first token outside the vocabulary", r => r with { FirstToken = 5000 } },
    };

    [Theory]
    [MemberData(nameof(Unusable))]
    public async Task UnusableTransferParameters_DecodeComputesThePrompt(string what, Func<RemoteKvBlocks, RemoteKvBlocks> spoil)
    {
        await using var aggregated = new MockerEngine(Disagg());
        await using var prefill = new MockerEngine(Disagg());
        await using var decode = new MockerEngine(Disagg());
        EngineRequest request = Request(Prompt(40), 6);
        int[] expected = await TokensAsync(aggregated, request, "the aggregated run");
        RemoteKvBlocks remote = await PrefillAsync(prefill, request);

        int[] decoded = await TokensAsync(decode, Decode(request, spoil(remote)), $"the decode with {what}");

        Assert.Equal(expected, decoded);
        Assert.Equal((0L, 1L), decode.RemotePrefills);
        Assert.Equal(0L, decode.KvBytesTransferred);
        Assert.Equal(0, decode.GetLoad().RunningRequests);
    }

    [Fact]
    public async Task RealDescriptorForAnotherPrompt_IsRefused_AndTheDecodeComputesItsOwnPrompt()
    {
        await using var aggregated = new MockerEngine(Disagg());
        await using var prefill = new MockerEngine(Disagg());
        await using var decode = new MockerEngine(Disagg());
        EngineRequest victim = Request(Prompt(40), 6);
        EngineRequest forger = Request([.. Prompt(40).Select(t => t + 1)], 6);
        int[] expected = await TokensAsync(aggregated, forger, "the aggregated run of the forger's prompt");
        RemoteKvBlocks remote = await PrefillAsync(prefill, victim);

        Assert.Equal(expected, await TokensAsync(decode, Decode(forger, remote), "the decode of another prompt with the victim's descriptor"));
        Assert.Equal((0L, 1L), decode.RemotePrefills);
        Assert.Equal(0L, decode.KvBytesTransferred);
        Assert.Equal(1L, prefill.RefusedTransferReads);
    }

    [Fact]
    public async Task DecodeLeavingBeforeItsTurn_ReleasesThePrefillsPin()
    {
        var time = new FakeTimeProvider();
        await using var prefill = new MockerEngine(Disagg());
        await using var decode = new MockerEngine(Disagg(o =>
        {
            o.ZeroDelay = false;
            o.MaxNumSeqs = 1;
        }), time);
        EngineRequest request = Request(Prompt(40), 3, id: "leaver");
        RemoteKvBlocks remote = await PrefillAsync(prefill, request);

        // The one batch slot is taken by a request whose step waits for a clock that only the test moves.
        var stepped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        decode.StepStarted += _ => stepped.TrySetResult();
        using var stop = new CancellationTokenSource();
        Task<List<EngineOutput>> busy = CollectAsync(decode, Request(Prompt(20, start: 300), 100, id: "busy"), stop.Token);
        await Within(stepped.Task, "the busy request's first step");
        using var leave = new CancellationTokenSource();
        Task<List<EngineOutput>> waiting = CollectAsync(decode, Decode(request, remote), leave.Token);
        Assert.Equal(1, decode.GetLoad().WaitingRequests);
        Assert.Equal(1, prefill.PinnedTransfers);

        await leave.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        time.Advance(TimeSpan.FromSeconds(1));

        await WaitUntilAsync(prefill, () => prefill.PinnedTransfers == 0 && prefill.GetKvStats().UsedBlocks == 0, "the prefill's pin to go when its decode left");
        Assert.Equal((0L, 0L), decode.RemotePrefills);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => busy);
    }

    [Fact]
    public async Task ReleasePins_FreesAnUnreadPin()
    {
        await using var prefill = new MockerEngine(Disagg());
        EngineRequest request = Request(Prompt(40), 3);
        await PrefillAsync(prefill, request);
        Assert.True(prefill.PinnedBlocks > 0);

        prefill.ReleasePins(request.RequestId);

        await WaitUntilAsync(prefill, () => prefill.PinnedTransfers == 0 && prefill.PinnedBlocks == 0 && prefill.GetKvStats().UsedBlocks == 0, "the released pin's blocks to be freed");
    }

    [Fact]
    public async Task ForgedBlockIds_ReleaseThePin_AsTheRealEnginesFailedReadDoes()
    {
        await using var prefill = new MockerEngine(Disagg());
        await using var decode = new MockerEngine(Disagg());
        EngineRequest request = Request(Prompt(40), 3);
        RemoteKvBlocks remote = await PrefillAsync(prefill, request);

        await TokensAsync(decode, Decode(request, remote with { BlockIds = [.. remote.BlockIds.Reverse()] }), "the decode with forged ids");

        Assert.Equal(0, prefill.PinnedTransfers);
        await WaitUntilAsync(prefill, () => prefill.GetKvStats().UsedBlocks == 0, "the prefill engine to free the released pin");
    }

    [Fact]
    public async Task PrefillEngineGone_DecodeComputesThePrompt()
    {
        await using var aggregated = new MockerEngine(Disagg());
        var prefill = new MockerEngine(Disagg());
        await using var decode = new MockerEngine(Disagg());
        EngineRequest request = Request(Prompt(50), 8);
        int[] expected = await TokensAsync(aggregated, request, "the aggregated run");
        RemoteKvBlocks remote = await PrefillAsync(prefill, request);

        await prefill.DisposeAsync();

        Assert.Equal(expected, await TokensAsync(decode, Decode(request, remote), "the decode after the prefill engine went"));
        Assert.Equal((0L, 1L), decode.RemotePrefills);
    }

    [Fact]
    public async Task PrefillInAnotherProcess_IsTakenOnTrust()
    {
        await using var aggregated = new MockerEngine(Disagg());
        await using var prefill = new MockerEngine(Disagg());
        await using var decode = new MockerEngine(Disagg());
        EngineRequest request = Request(Prompt(50), 8);
        int[] expected = await TokensAsync(aggregated, request, "the aggregated run");
        RemoteKvBlocks remote = await PrefillAsync(prefill, request);

        // A mocker agent name with another process's token: nothing to check it against, nobody to notify.
        int[] decoded = await TokensAsync(decode, Decode(request, remote with { AgentName = "mocker:0badf00d:1:prefill" }), "the decode");

        Assert.Equal(expected, decoded);
        Assert.Equal((1L, 0L), decode.RemotePrefills);
        Assert.Equal(1, prefill.PinnedTransfers);
    }

    [Fact]
    public async Task DecodeAbandonedDuringItsTransfer_FreesItsBlocks_AndStillReleasesThePin()
    {
        var time = new FakeTimeProvider();
        await using var prefill = new MockerEngine(Disagg());
        await using var decode = new MockerEngine(Disagg(o =>
        {
            o.ZeroDelay = false;
            o.KvTransfer.Bandwidth = 1e6;
        }), time);
        var started = new TaskCompletionSource<MockerTransfer>(TaskCreationOptions.RunContinuationsAsynchronously);
        decode.TransferStarted += t => started.TrySetResult(t);
        EngineRequest request = Request(Prompt(40), 5);
        RemoteKvBlocks remote = await PrefillAsync(prefill, request);

        using var cancel = new CancellationTokenSource();
        Task<List<EngineOutput>> decoded = CollectAsync(decode, Decode(request, remote), cancel.Token);
        MockerTransfer transfer = await Within(started.Task, "the decode's transfer to start");
        await WaitUntilAsync(decode, () => decode.GetLoad().RunningRequests == 1, "the transferring decode to hold a batch slot");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Within(decoded, "the cancelled decode"));
        await WaitUntilAsync(decode, () => decode.GetLoad().RunningRequests == 0 && decode.GetKvStats().UsedBlocks == 0, "the abandoned decode to free its blocks");
        Assert.Equal(1, prefill.PinnedTransfers);

        time.Advance(transfer.Delay);
        await WaitUntilAsync(prefill, () => prefill.PinnedTransfers == 0 && prefill.GetKvStats().UsedBlocks == 0, "the pin to be released when the transfer ends");
    }
}
