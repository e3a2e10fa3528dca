using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Dynamo.Contracts.Engine;
using Dynamo.Runtime.Discovery;
using Dynamo.Worker.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Dynamo.Worker.Tests;

/// <summary><c>kv_transfer_params</c> between the HTTP contract and the engine: what a prefill returns, a decode sends back.</summary>
public sealed class KvTransferParamsTests
{
    private static readonly RemoteKvBlocks Handoff = new()
    {
        AgentName = "prefill-agent",
        TransferId = "req-1.7",
        TransferToken = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        RegionId = 3,
        BlockIds = [10, 11, 40],
        BlockSize = 16,
        BlockBytes = 81920,
        PromptTokens = 40,
        FirstToken = 42,
    };

    /// <summary>Answers a prefill request with one token and <see cref="Handoff"/>, anything else with three tokens; keeps the requests.</summary>
    private sealed class ScriptedEngine : IEngine, IKvTransferPins
    {
        public List<EngineRequest> Requests { get; } = [];

        public List<string> Released { get; } = [];

        public int PinnedBlocks => 3;

        public long DeclinedPins => 0;

        public long RefusedTransferReads => 2;

        public void ReleasePins(string requestId)
        {
            lock (Released)
            {
                Released.Add(requestId);
            }
        }

        public EngineInfo Info { get; } = new()
        {
            ModelName = TestModel.Name,
            EngineKind = "scripted",
            TotalKvBlocks = 64,
            MaxContextLength = TestModel.MaxContextLength,
            VocabSize = TestModel.VocabSize,
            EosTokenIds = [TestModel.EosTokenId],
        };

        public async IAsyncEnumerable<EngineOutput> GenerateAsync(EngineRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            lock (Requests)
            {
                Requests.Add(request);
            }

            await Task.Yield();
            if (request.KvTransfer?.DoRemoteDecode == true)
            {
                yield return new EngineOutput(Handoff.FirstToken, FinishReason.Length, 0) { KvTransfer = Handoff };
                yield break;
            }

            yield return new EngineOutput(Handoff.FirstToken, null, 0);
            yield return new EngineOutput(43, null, 0);
            yield return new EngineOutput(44, FinishReason.Length, 0);
        }

        public EngineLoad GetLoad() => new() { KvBlocksTotal = 64 };

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static async Task<(WorkerHost Host, HttpClient Client, ScriptedEngine Engine, ILoggerFactory Logs)> StartAsync()
    {
        var engine = new ScriptedEngine();
        var logs = LoggerFactory.Create(_ => { });
        var host = await WorkerHost.StartAsync(new WorkerOptions { InstanceId = "w-" + Guid.NewGuid().ToString("N")[..8] }, engine, TestModel.LoadCard(), new InProcessDiscovery(), TestWorker.Secret, logs, CancellationToken.None);
        var client = new HttpClient(new Runtime.Security.ClusterCredentialHandler(TestWorker.Secret, new SocketsHttpHandler())) { BaseAddress = host.Address, Timeout = TimeSpan.FromSeconds(30) };
        return (host, client, engine, logs);
    }

    private static async Task<JsonElement> PostAsync(HttpClient client, string json)
    {
        using var response = await client.PostAsync("/v1/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    [Fact]
    public async Task Prefill_ReturnsTheBlocks_AndDecodeSendsThemBackToTheEngine()
    {
        var (host, client, engine, logs) = await StartAsync();
        await using (host)
        using (client)
        using (logs)
        {
            var prefill = await PostAsync(client, """{"model":"test-model","prompt":[1,2,3,4],"max_tokens":1,"kv_transfer_params":{"do_remote_decode":true}}""");
            var kv = prefill.GetProperty("kv_transfer_params");
            Assert.True(engine.Requests[0].KvTransfer!.DoRemoteDecode);
            Assert.Equal("prefill-agent", kv.GetProperty("remote_agent").GetString());
            Assert.Equal(Handoff.TransferToken, kv.GetProperty("transfer_token").GetString());
            Assert.Equal([10, 11, 40], kv.GetProperty("remote_block_ids").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal("length", prefill.GetProperty("choices")[0].GetProperty("finish_reason").GetString());

            // The gateway passes the prefill's parameters to the decode request as they are.
            var decode = await PostAsync(client, $$"""{"model":"test-model","prompt":[1,2,3,4],"max_tokens":3,"kv_transfer_params":{{kv.GetRawText()}}}""");

            Assert.Equal(Handoff with { BlockIds = [] }, engine.Requests[1].KvTransfer!.RemotePrefill! with { BlockIds = [] });
            Assert.Equal(Handoff.BlockIds, engine.Requests[1].KvTransfer!.RemotePrefill!.BlockIds);
            Assert.False(decode.TryGetProperty("kv_transfer_params", out _));
        }
    }

    [Fact]
    public async Task StreamedPrefill_LastChunkCarriesTheBlocks()
    {
        var (host, client, engine, logs) = await StartAsync();
        await using (host)
        using (client)
        using (logs)
        {
            using var response = await client.PostAsync("/v1/completions", new StringContent(
                """{"model":"test-model","prompt":[5,6],"max_tokens":1,"stream":true,"kv_transfer_params":{"do_remote_decode":true}}""", Encoding.UTF8, "application/json"));
            var events = (await Sse.ReadAllAsync(response)).Events;

            // The chunk that ends the choice carries every field of the handoff: sent back as a decode request (as the
            // gateway does), the engine gets the prefill's blocks exactly.
            var last = events.Last(e => e.GetProperty("choices").GetArrayLength() > 0);
            Assert.Equal("length", last.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
            var kv = last.GetProperty("kv_transfer_params");
            Assert.Equal([10, 11, 40], kv.GetProperty("remote_block_ids").EnumerateArray().Select(e => e.GetInt32()));
            await PostAsync(client, $$"""{"model":"test-model","prompt":[5,6],"max_tokens":3,"kv_transfer_params":{{kv.GetRawText()}}}""");

            var received = engine.Requests[1].KvTransfer!.RemotePrefill!;
            Assert.Equal(Handoff with { BlockIds = [] }, received with { BlockIds = [] });
            Assert.Equal(Handoff.BlockIds, received.BlockIds);
        }
    }

    [Fact]
    public async Task UnusableParams_AreIgnored_AndTheRequestIsServedWhole()
    {
        var (host, client, engine, logs) = await StartAsync();
        await using (host)
        using (client)
        using (logs)
        {
            var response = await PostAsync(client, """{"model":"test-model","prompt":[1,2],"max_tokens":3,"kv_transfer_params":{"do_remote_prefill":true,"remote_agent":"x"}}""");
            var twoChoices = await PostAsync(client, """{"model":"test-model","prompt":[1,2],"max_tokens":3,"n":2,"kv_transfer_params":{"do_remote_decode":true}}""");

            Assert.Equal(3, response.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
            Assert.Null(engine.Requests[0].KvTransfer);
            Assert.All(engine.Requests.Skip(1), r => Assert.Null(r.KvTransfer)); // n = 2: no disaggregation
            Assert.Equal(2, twoChoices.GetProperty("choices").GetArrayLength());
        }
    }

    [Fact]
    public async Task Release_ByTheGatewaysRequestId_ReleasesThePrefillEnginesPins()
    {
        var (host, client, engine, logs) = await StartAsync();
        await using (host)
        using (client)
        using (logs)
        {
            using var accepted = await client.PostAsync("/v1/kv_transfer/release", new StringContent("""{"request_id":"cmpl-42"}""", Encoding.UTF8, "application/json"));
            Assert.Equal(System.Net.HttpStatusCode.Accepted, accepted.StatusCode);
            Assert.Equal(["cmpl-42-0"], engine.Released);

            using var bad = await client.PostAsync("/v1/kv_transfer/release", new StringContent("""{"request":"cmpl-42"}""", Encoding.UTF8, "application/json"));
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
            var error = JsonDocument.Parse(await bad.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal("request_id", error.GetProperty("param").GetString());
            Assert.Single(engine.Released);

            var metrics = await client.GetStringAsync("/metrics");
            Assert.Matches("dynamo_component_kv_pinned_blocks{[^}]*} 3", metrics);
            Assert.Matches("dynamo_component_kv_transfer_refused_total{[^}]*} 2", metrics);
        }
    }
}
