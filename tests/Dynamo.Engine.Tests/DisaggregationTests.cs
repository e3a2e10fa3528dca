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

        public static async Task<Cluster> Start(string backend, TimeSpan? pinTimeout = null)
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
            prefill.AttachTransferAgent(prefillAgent, new KvTransferOptions { PinTimeout = pinTimeout ?? TimeSpan.FromSeconds(30) });

            // Stands in for discovery: the decode engine looks the prefill agent's metadata up by name.
            decode.AttachTransferAgent(decodeAgent, new KvTransferOptions { ReadTimeout = TimeSpan.FromSeconds(5) },
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
        Assert.Equal(0, cluster.Decode.GetLoad().RunningRequests);
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
}
