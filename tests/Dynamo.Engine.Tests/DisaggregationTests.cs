using Dynamo.Contracts.Engine;
using Dynamo.Engine.Transfer;
using Dynamo.Transfer;
using static Dynamo.Engine.Tests.EngineHarness;

namespace Dynamo.Engine.Tests;

/// <summary>
/// Prefill on one engine, decode on another, the prompt's KV moved by the transfer agents: the tokens must be the
/// aggregated engine's, and every failure must fall back to computing the prompt on the decode engine.
/// </summary>
public sealed class DisaggregationTests
{
    public static TheoryData<string> Backends => ["inprocess", "tcp", "ucx"];

    private sealed class Cluster : IAsyncDisposable
    {
        private Cluster(DotnetEngine aggregated, DotnetEngine prefill, DotnetEngine decode, TransferAgent prefillAgent, TransferAgent decodeAgent)
        {
            Aggregated = aggregated;
            Prefill = prefill;
            Decode = decode;
            PrefillAgent = prefillAgent;
            DecodeAgent = decodeAgent;
        }

        public DotnetEngine Aggregated { get; }

        public DotnetEngine Prefill { get; }

        public DotnetEngine Decode { get; }

        public TransferAgent PrefillAgent { get; }

        public TransferAgent DecodeAgent { get; private set; }

        public static async Task<Cluster> Start(string backend, TimeSpan? pinTimeout = null, double maxPinnedFraction = 0.5, bool trustUcx = true)
        {
            var id = Guid.NewGuid().ToString("N")[..6];
            TransferAgent Agent(string name) => TransferAgent.Create(new TransferAgentOptions
            {
                Name = $"{name}-{id}",
                Backends = backend,
                RequireAllBackends = true,
                DefaultTimeout = TimeSpan.FromSeconds(10),
            });
            var prefillAgent = Agent("prefill");
            var decodeAgent = Agent("decode");
            var prefill = await EngineHarness.Start(o => o.MaxNumBatchedTokens = 64);
            var decode = await EngineHarness.Start(o => o.MaxNumBatchedTokens = 64);
            prefill.AttachTransferAgent(prefillAgent, new KvTransferOptions { PinTimeout = pinTimeout ?? TimeSpan.FromSeconds(30), MaxPinnedFraction = maxPinnedFraction });

            // Stands in for discovery: the decode engine looks the prefill agent's metadata up by name.
            decode.AttachTransferAgent(decodeAgent, new KvTransferOptions { ReadTimeout = TimeSpan.FromSeconds(5), TrustUcxReads = trustUcx },
                (name, _) => ValueTask.FromResult(name == prefillAgent.Name ? prefillAgent.GetLocalMetadata().ToBytes() : null));
            return new Cluster(await EngineHarness.Start(o => o.MaxNumBatchedTokens = 64), prefill, decode, prefillAgent, decodeAgent);
        }

        public async Task<RemoteKvBlocks> PrefillAsync(int[] prompt, int maxTokens)
        {
            var outputs = await Collect(Prefill, Greedy(prompt, maxTokens) with { KvTransfer = new KvTransferRequest { DoRemoteDecode = true } });
            var last = Assert.Single(outputs);
            Assert.Equal(FinishReason.Length, last.Finish);
            return last.KvTransfer ?? throw new InvalidOperationException("the prefill returned no kv_transfer_params");
        }

        public Task<int[]> DecodeAsync(int[] prompt, int maxTokens, RemoteKvBlocks remote) =>
            Tokens(Decode, Greedy(prompt, maxTokens) with { KvTransfer = new KvTransferRequest { RemotePrefill = remote } });

        public async ValueTask DisposeAsync()
        {
            await Aggregated.DisposeAsync();
            await Prefill.DisposeAsync();
            await Decode.DisposeAsync();
            await PrefillAgent.DisposeAsync();
            await DecodeAgent.DisposeAsync();
        }
    }

    private static void SkipIfUnavailable(string backend)
    {
        string? reason = null;
        Skip.If(backend == "ucx" && !TransferAgent.IsBackendAvailable(TransferBackendKind.Ucx, out reason), $"UCX backend not testable here: {reason}");
    }

    [SkippableTheory]
    [MemberData(nameof(Backends))]
    public async Task Disaggregated_Greedy_EqualsAggregated(string backend)
    {
        SkipIfUnavailable(backend);
        await using var cluster = await Cluster.Start(backend);
        foreach (var length in new[] { 3, 16, 37, 130 })
        {
            var prompt = Prompt(length, salt: length);
            var aggregated = await Tokens(cluster.Aggregated, Greedy(prompt, 12));

            var remote = await cluster.PrefillAsync(prompt, 12);
            Assert.Equal(aggregated[0], remote.FirstToken);
            Assert.Equal((length + 15) / 16, remote.BlockIds.Length);
            var decoded = await cluster.DecodeAsync(prompt, 12, remote);

            Assert.Equal(aggregated, decoded);
        }

        Assert.Equal((4L, 0L), cluster.Decode.RemotePrefills);
        await WaitUntil(() => cluster.Prefill.PinnedTransfers == 0, "the prefill engine to unpin every prompt once read");
        await WaitUntil(() => cluster.Prefill.GetLoad().KvBlocksUsed == 0, "the prefill engine's blocks to be free");
    }

    [Fact]
    public async Task PromptPartlyCachedOnTheDecodeEngine_ReadsTheRest_SameTokens()
    {
        await using var cluster = await Cluster.Start("tcp");
        var shared = Prompt(64, salt: 1);
        var prompt = shared.Concat(Prompt(40, salt: 2)).ToArray();
        var aggregated = await Tokens(cluster.Aggregated, Greedy(prompt, 10));
        await Tokens(cluster.Decode, Greedy(shared.Concat(Prompt(5, salt: 3)).ToArray(), 2)); // 4 blocks now cached on decode

        var remote = await cluster.PrefillAsync(prompt, 10);
        var outputs = await Collect(cluster.Decode, Greedy(prompt, 10) with { KvTransfer = new KvTransferRequest { RemotePrefill = remote } });

        Assert.Equal(aggregated, outputs.Select(o => o.TokenId).ToArray());
        Assert.Equal(64, outputs[0].CachedTokens);
        Assert.Equal((1L, 0L), cluster.Decode.RemotePrefills);
    }

    [Fact]
    public async Task PrefillAgentGoneBeforeTheRead_DecodeComputesThePrompt()
    {
        await using var cluster = await Cluster.Start("tcp");
        var prompt = Prompt(50, salt: 4);
        var aggregated = await Tokens(cluster.Aggregated, Greedy(prompt, 8));
        var remote = await cluster.PrefillAsync(prompt, 8);

        await cluster.PrefillAgent.DisposeAsync();
        var decoded = await cluster.DecodeAsync(prompt, 8, remote);

        Assert.Equal(aggregated, decoded);
        Assert.Equal((0L, 1L), cluster.Decode.RemotePrefills);
        // The engine's step loop retires a finished sequence after its last token reached the reader: a leak would
        // keep it running for ever, a loaded machine only for a moment (a normal-mode suite run at load 15 saw 1).
        await WaitUntil(() => cluster.Decode.GetLoad().RunningRequests == 0 && cluster.Decode.GetLoad().KvBlocksUsed == 0, "the decode engine to retire the request and free its blocks");
    }

    [Fact]
    public async Task DescriptorsOutsideTheRegion_DecodeComputesThePrompt()
    {
        await using var cluster = await Cluster.Start("tcp");
        var prompt = Prompt(40, salt: 5);
        var aggregated = await Tokens(cluster.Aggregated, Greedy(prompt, 6));
        var remote = await cluster.PrefillAsync(prompt, 6);

        var forged = remote with { BlockIds = [.. remote.BlockIds.Select(b => b + 1_000_000)] };
        var decoded = await cluster.DecodeAsync(prompt, 6, forged);

        Assert.Equal(aggregated, decoded);
        Assert.Equal((0L, 1L), cluster.Decode.RemotePrefills);

        // The failed read asked the prefill engine to unpin; nothing leaks there either.
        await WaitUntil(() => cluster.Prefill.PinnedTransfers == 0, "the prefill engine to unpin after the failed read");
    }

    [Fact]
    public async Task MismatchedGeometry_DecodeComputesThePrompt()
    {
        await using var cluster = await Cluster.Start("inprocess");
        var prompt = Prompt(20, salt: 6);
        var aggregated = await Tokens(cluster.Aggregated, Greedy(prompt, 5));
        var remote = await cluster.PrefillAsync(prompt, 5);

        var decoded = await cluster.DecodeAsync(prompt, 5, remote with { BlockBytes = remote.BlockBytes * 2 });

        Assert.Equal(aggregated, decoded);
        Assert.Equal((0L, 1L), cluster.Decode.RemotePrefills);
    }

    [Fact]
    public async Task PinsNobodyReads_AreReleasedAfterTheTimeout()
    {
        await using var cluster = await Cluster.Start("inprocess", pinTimeout: TimeSpan.FromMilliseconds(300));
        await cluster.PrefillAsync(Prompt(70, salt: 7), 4);
        Assert.Equal(1, cluster.Prefill.PinnedTransfers);
        Assert.True(cluster.Prefill.GetLoad().KvBlocksUsed > 0);

        await WaitUntil(() => cluster.Prefill.PinnedTransfers == 0, "the unread pin to expire");
        await WaitUntil(() => cluster.Prefill.GetLoad().KvBlocksUsed == 0, "the expired pin's blocks to be free");
    }

    [Fact]
    public async Task PrefillThatEndsOnEos_ReturnsNoTransferAndPinsNothing()
    {
        await using var cluster = await Cluster.Start("inprocess");
        var prompt = Prompt(10, salt: 8);
        var first = (await Tokens(cluster.Aggregated, Greedy(prompt, 1)))[0];

        var outputs = await Collect(cluster.Prefill, Greedy(prompt, 5) with
        {
            StopTokenIds = [first],
            KvTransfer = new KvTransferRequest { DoRemoteDecode = true },
        });

        Assert.Equal(FinishReason.Stop, Assert.Single(outputs).Finish);
        Assert.Null(outputs[0].KvTransfer);
        Assert.Equal(0, cluster.Prefill.PinnedTransfers);
    }

    public static TheoryData<string> Forgeries => ["invented token", "block ids never pinned", "real token, another pin's block ids", "real token, another prompt"];

    /// <summary>
    /// Issue 12, finding 1: a decode request carrying a forged descriptor must read nothing and poison nothing. The
    /// victim's prompt is prefilled (and pinned); the forger's decode request for its own prompt carries a descriptor
    /// built from the victim's; then both prompts are served again. Over real sockets (TCP).
    /// </summary>
    [Theory]
    [MemberData(nameof(Forgeries))]
    public async Task ForgedDescriptor_ReadsNothing_PoisonsNothing(string forgery)
    {
        await using var cluster = await Cluster.Start("tcp");
        var victim = Prompt(64, salt: 20);
        var forger = Prompt(64, salt: 21);
        var victimExpected = await Tokens(cluster.Aggregated, Greedy(victim, 8));
        var forgerExpected = await Tokens(cluster.Aggregated, Greedy(forger, 8));

        var remote = await cluster.PrefillAsync(victim, 8);
        var other = await cluster.PrefillAsync(Prompt(64, salt: 22), 8);
        var forged = forgery switch
        {
            "invented token" => remote with { TransferToken = System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) },
            "block ids never pinned" => remote with { BlockIds = [.. remote.BlockIds.Select(b => b + 100)] },
            "real token, another pin's block ids" => remote with { BlockIds = other.BlockIds },
            _ => remote,
        };

        var outputs = await Collect(cluster.Decode, Greedy(forger, 8) with { KvTransfer = new KvTransferRequest { RemotePrefill = forged } });

        Assert.Equal(forgerExpected, outputs.Select(o => o.TokenId).ToArray());
        Assert.Equal(0, outputs[0].CachedTokens);
        Assert.Equal((0L, 1L), cluster.Decode.RemotePrefills);
        Assert.Equal(1, cluster.PrefillAgent.RefusedRequests);

        // Nothing the forger pointed at entered the decode engine's prefix cache under the forger's tokens: the same
        // prompt again (now a prefix-cache hit of what the decode engine computed itself) and the victim's prompt give
        // the aggregated engine's tokens.
        var again = await Collect(cluster.Decode, Greedy(forger, 8));
        Assert.Equal(forgerExpected, again.Select(o => o.TokenId).ToArray());
        Assert.Equal(48, again[0].CachedTokens);
        Assert.Equal(victimExpected, await cluster.DecodeAsync(victim, 8, remote));
        Assert.Equal(victimExpected, await Tokens(cluster.Decode, Greedy(victim, 8)));
    }

    [Fact]
    public async Task DescriptorWithoutAValidToken_IsNotRead_AndThePinStaysForItsReader()
    {
        await using var cluster = await Cluster.Start("tcp");
        var prompt = Prompt(40, salt: 23);
        var expected = await Tokens(cluster.Aggregated, Greedy(prompt, 6));
        var remote = await cluster.PrefillAsync(prompt, 6);

        Assert.Equal(expected, await cluster.DecodeAsync(prompt, 6, remote with { TransferToken = "not a token" }));
        Assert.Equal((0L, 1L), cluster.Decode.RemotePrefills);
        Assert.Equal(1, cluster.Prefill.PinnedTransfers);

        // Nor does an unpin notification with a token that is not one (the prefill's notification pump must survive it).
        cluster.DecodeAgent.LoadRemoteMetadata(cluster.PrefillAgent.GetLocalMetadata().ToBytes());
        Assert.True((await cluster.DecodeAgent.SendNotificationAsync(cluster.PrefillAgent.Name, System.Text.Encoding.UTF8.GetBytes($"kv-unpin:{remote.TransferId}:*not base64*"))).IsSuccess);
        Assert.Equal(1, cluster.Prefill.PinnedTransfers);

        Assert.Equal(expected, await cluster.DecodeAsync(prompt, 6, remote));
        Assert.Equal((1L, 1L), cluster.Decode.RemotePrefills);
        await WaitUntil(() => cluster.Prefill.PinnedTransfers == 0, "the prefill engine to unpin once read");
    }

    [Fact]
    public async Task ReleasePins_FreesAnUnreadPinAtOnce_AndItsTokenReadsNothing()
    {
        await using var cluster = await Cluster.Start("tcp");
        var prompt = Prompt(70, salt: 24);
        var expected = await Tokens(cluster.Aggregated, Greedy(prompt, 4));
        var request = Greedy(prompt, 4, id: "prefill-24") with { KvTransfer = new KvTransferRequest { DoRemoteDecode = true } };
        var remote = Assert.Single(await Collect(cluster.Prefill, request)).KvTransfer!;
        Assert.True(cluster.Prefill.PinnedBlocks > 0);

        cluster.Prefill.ReleasePins("prefill-24");

        await WaitUntil(() => cluster.Prefill.PinnedTransfers == 0 && cluster.Prefill.PinnedBlocks == 0, "the released pin to go");
        await WaitUntil(() => cluster.Prefill.GetLoad().KvBlocksUsed == 0, "the released pin's blocks to be free");
        Assert.Equal(expected, await cluster.DecodeAsync(prompt, 4, remote));
        Assert.Equal((0L, 1L), cluster.Decode.RemotePrefills);
        Assert.Equal(1, cluster.PrefillAgent.RefusedRequests);
    }

    [Fact]
    public async Task PinsOverTheirShareOfThePool_AreDeclined_AndTheDecodeComputesThePrompt()
    {
        // 256 blocks, at most 10 % pinned: two 130-token prompts (9 blocks each) fit, a third does not.
        await using var cluster = await Cluster.Start("inprocess", maxPinnedFraction: 0.1);
        await cluster.PrefillAsync(Prompt(130, salt: 25), 2);
        await cluster.PrefillAsync(Prompt(130, salt: 26), 2);

        var outputs = await Collect(cluster.Prefill, Greedy(Prompt(130, salt: 27), 2) with { KvTransfer = new KvTransferRequest { DoRemoteDecode = true } });

        var last = Assert.Single(outputs);
        Assert.Null(last.KvTransfer);
        Assert.True(last.KvTransferDeclined);
        Assert.Equal(FinishReason.Length, last.Finish);
        Assert.Equal(2, cluster.Prefill.PinnedTransfers);
        Assert.Equal(18, cluster.Prefill.PinnedBlocks);
        Assert.Equal(1, cluster.Prefill.DeclinedPins);
    }

    [SkippableFact]
    public async Task UcxReads_AreRefusedUnlessTrusted_AndTheDecodeComputesThePrompt()
    {
        SkipIfUnavailable("ucx");
        await using var cluster = await Cluster.Start("ucx", trustUcx: false);
        var prompt = Prompt(40, salt: 29);
        var expected = await Tokens(cluster.Aggregated, Greedy(prompt, 5));
        var remote = await cluster.PrefillAsync(prompt, 5);

        Assert.Equal(expected, await cluster.DecodeAsync(prompt, 5, remote));
        Assert.Equal((0L, 1L), cluster.Decode.RemotePrefills);
        await WaitUntil(() => cluster.Prefill.PinnedTransfers == 0, "the refused decode to release the prefill's pin");
    }
}
