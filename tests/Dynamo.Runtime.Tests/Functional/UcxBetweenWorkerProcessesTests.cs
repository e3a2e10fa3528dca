using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dynamo.Contracts;
using Dynamo.Runtime.Tests.Contract;
using Dynamo.Runtime.Tests.Infrastructure;
using Dynamo.Transfer;
using Dynamo.Transfer.Metadata;

namespace Dynamo.Runtime.Tests.Functional;

/// <summary>
/// <c>dynamo worker --role prefill</c> and <c>--role decode</c> as real processes whose only transfer backend is UCX
/// (<c>Dynamo:Transfer:Backends=ucx</c>, <c>RequireAllBackends</c>), in its default mode: peer failure handling on,
/// which on one host means UCX over its TCP transport. The prompt's KV goes from one process to the other over it,
/// and both workers stop cleanly afterwards (a UCX worker with endpoints to a peer process torn down on SIGTERM).
/// </summary>
public sealed partial class UcxBetweenWorkerProcessesTests(NatsServerFixture nats, ITestOutputHelper output) : IClassFixture<NatsServerFixture>
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    [SkippableFact]
    public async Task PrefillAndDecodeProcesses_MoveKvOverUcxWithPeerFailureHandling()
    {
        Skip.IfNot(TransferAgent.IsBackendAvailable(TransferBackendKind.Ucx, out var reason), $"UCX backend not testable here: {reason}");
        await using var backend = new NatsBackend(nats.Server.Url, TestOutputLoggerProvider.Factory(output));
        var observer = await backend.NewRuntimeAsync();
        var model = await TestModel.DirectoryAsync();
        var environment = new Dictionary<string, string>
        {
            ["DYNAMO__NATS__NAMESPACE"] = backend.Namespace,
            ["DYNAMO__ENGINE__NUMKVBLOCKS"] = "512",
            ["DYNAMO__TRANSFER__BACKENDS"] = "ucx",
            ["DYNAMO__TRANSFER__REQUIREALLBACKENDS"] = "true",
            ["DYNAMO__GATEWAY__DISAGGREGATION__MINREMOTEPREFILLTOKENS"] = "32",

            // The prefill worker cannot authorize a one-sided UCX read, so a decode worker reads over UCX only when the
            // operator says the fabric is trusted; the UCX keys it needs are sealed with the cluster secret's transfer key.
            ["DYNAMO__KVTRANSFER__TRUSTUCXREADS"] = "true",
        };
        string[] Worker(string role, string id) =>
            ["worker", "--role", role, "--nats", nats.Server.Url, "--model", model, "--served-model-name", TestModel.Name, "--engine", "dotnet", "--instance-id", id, "--cluster-secret-file", TestSecret.File];

        await using var prefill = DynamoProcess.Start(Worker("prefill", "ucx-prefill"), environment);
        await using var decode = DynamoProcess.Start(Worker("decode", "ucx-decode"), environment);
        await using var frontend = DynamoProcess.Start(
            ["frontend", "--nats", nats.Server.Url, "--port", "0", "--model", model, "--served-model-name", TestModel.Name, "--cluster-secret-file", TestSecret.File], environment);
        var address = (await frontend.WaitForLineAsync(@"serving model 'tiny' at (\S+)v1", StartTimeout)).Groups[1].Value;
        await prefill.WaitForLineAsync("Dynamo worker ucx-prefill is serving", StartTimeout);
        await decode.WaitForLineAsync("Dynamo worker ucx-decode is serving", StartTimeout);
        await Wait.UntilAsync(() => observer.Discovery.GetInstances().Count == 2, "both worker processes in discovery");

        // What the prefill worker published for its peers: a UCX endpoint and nothing else to fall back on.
        var published = await observer.Metadata.GetAsync("transfer.ucx-prefill");
        Assert.NotNull(published);
        var endpoint = Assert.Single(AgentMetadata.Parse(published).Endpoints);
        Assert.Equal(TransferBackendKind.Ucx, endpoint.Kind);

        var decodeAddress = observer.Discovery.GetInstances().Single(i => i.Role == WorkerRole.Decode).Address;
        using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
        int[] prompt = [.. Enumerable.Range(0, 150).Select(i => 1 + (i * 7919 % 50000))];
        using (var response = await client.PostAsJsonAsync("v1/completions", new { model = TestModel.Name, prompt, max_tokens = 12, temperature = 0, ignore_eos = true }))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, body);
            Assert.Equal(12, (int)JsonNode.Parse(body)!["usage"]!["completion_tokens"]!);
        }

        Assert.Contains("dynamo_frontend_disagg_prefills_total{path=\"remote\",reason=\"\"} 1", await client.GetStringAsync("metrics"));
        using var http = new HttpClient();
        var decodeMetrics = await http.GetStringAsync(new Uri(decodeAddress, "metrics"));
        Assert.Contains("outcome=\"remote\"", decodeMetrics);
        Assert.DoesNotContain("outcome=\"fallback\"", decodeMetrics);
        var bytes = TransferBytes().Match(decodeMetrics);
        Assert.True(bytes.Success && double.Parse(bytes.Groups[1].Value, CultureInfo.InvariantCulture) > 0, $"no KV bytes read by the decode worker:\n{decodeMetrics}");

        frontend.Terminate();
        decode.Terminate();
        prefill.Terminate();
        Assert.Equal(0, await frontend.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, await decode.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, await prefill.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [GeneratedRegex(@"^dynamo_component_kv_transfer_bytes_total(?:\{[^}]*\})? (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TransferBytes();
}
