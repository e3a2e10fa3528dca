using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Contracts;
using Dynamo.Runtime.Tests.Contract;
using Dynamo.Runtime.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dynamo.Runtime.Tests.Functional;

/// <summary>
/// <c>dynamo worker --role prefill</c> and <c>--role decode</c> as real processes on a real nats-server, with the
/// frontend in a third: the prompt's KV moves between the two worker processes over the TCP transfer backend (agent
/// metadata found in the NATS metadata bucket), and greedy output equals what an independent aggregated engine on
/// the same model, started empty in this process, computes for the prompt with no transfer at all.
/// </summary>
public sealed class DisaggregatedProcessesTests(NatsServerFixture nats, ITestOutputHelper output) : IClassFixture<NatsServerFixture>
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task PrefillAndDecodeProcesses_MoveKvOverTcp_GreedyTextEqualsAnAggregatedEngine()
    {
        await using var backend = new NatsBackend(nats.Server.Url, TestOutputLoggerProvider.Factory(output));
        var observer = await backend.NewRuntimeAsync();
        var model = await TestModel.DirectoryAsync();
        var environment = new Dictionary<string, string>
        {
            ["DYNAMO__NATS__NAMESPACE"] = backend.Namespace,
            ["DYNAMO__ENGINE__NUMKVBLOCKS"] = "512",
            ["DYNAMO__TRANSFER__BACKENDS"] = "tcp",
            ["DYNAMO__GATEWAY__DISAGGREGATION__MINREMOTEPREFILLTOKENS"] = "32",
        };
        string[] Worker(string role, string id) =>
            ["worker", "--role", role, "--nats", nats.Server.Url, "--model", model, "--served-model-name", TestModel.Name, "--engine", "dotnet", "--instance-id", id, "--cluster-secret-file", TestSecret.File];

        // The baseline, computed while the processes start: an aggregated engine with no transfer and an empty cache.
        int[] prompt = [.. Enumerable.Range(0, 150).Select(i => 1 + (i * 7919 % 50000))];
        var expectedText = AggregatedTextAsync(model, prompt);

        await using var prefill = DynamoProcess.Start(Worker("prefill", "p-prefill"), environment);
        await using var decode = DynamoProcess.Start(Worker("decode", "p-decode"), environment);
        await using var frontend = DynamoProcess.Start(
            ["frontend", "--nats", nats.Server.Url, "--port", "0", "--model", model, "--served-model-name", TestModel.Name, "--cluster-secret-file", TestSecret.File], environment);
        var address = (await frontend.WaitForLineAsync(@"serving model 'tiny' at (\S+)v1", StartTimeout)).Groups[1].Value;
        await prefill.WaitForLineAsync("Dynamo worker p-prefill is serving", StartTimeout);
        await decode.WaitForLineAsync("Dynamo worker p-decode is serving", StartTimeout);
        await Wait.UntilAsync(() => observer.Discovery.GetInstances().Count == 2, "both worker processes in discovery");
        var decodeAddress = observer.Discovery.GetInstances().Single(i => i.Role == WorkerRole.Decode).Address;
        using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };

        var expected = await expectedText;
        var remote = await CompleteAsync(client, prompt);
        Assert.Equal(expected, remote);
        using var http = new HttpClient();
        var frontendMetrics = await client.GetStringAsync("metrics");
        Assert.Contains("dynamo_frontend_disagg_prefills_total{path=\"remote\",reason=\"\"} 1", frontendMetrics);
        var decodeMetrics = await http.GetStringAsync(new Uri(decodeAddress, "metrics"));
        Assert.Contains("outcome=\"remote\"", decodeMetrics);
        Assert.DoesNotContain("outcome=\"fallback\"", decodeMetrics);

        // Without the prefill pool the decode worker serves the prompt itself (from the KV it read, plus the last block).
        prefill.Terminate();
        Assert.Equal(0, await prefill.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        await Wait.UntilAsync(() => observer.Discovery.GetInstances().Count == 1, "the prefill worker to leave discovery");
        Assert.Equal(expected, await CompleteAsync(client, prompt));
        output.WriteLine($"remote-prefilled text equals an independent aggregated engine's: '{remote}'");

        frontend.Terminate();
        decode.Terminate();
        Assert.Equal(0, await frontend.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, await decode.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    /// <summary>The greedy text of an aggregated .NET engine on the model, in this process, from an empty cache.</summary>
    private static async Task<string> AggregatedTextAsync(string model, int[] prompt)
    {
        var settings = ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:Port"] = "0",
            ["Dynamo:Serve:Engine"] = "dotnet",
            ["Dynamo:Serve:Model"] = model,
            ["Dynamo:Serve:ServedModelName"] = TestModel.Name,
            ["Dynamo:Serve:Mode"] = "agg",
            ["Dynamo:Serve:Workers"] = "1",
            ["Dynamo:Engine:NumKvBlocks"] = "512",
        }));
        await using var cluster = await EmbeddedCluster.StartAsync(settings, NullLoggerFactory.Instance);
        using var client = new HttpClient { BaseAddress = cluster.Address, Timeout = TimeSpan.FromSeconds(60) };
        return await CompleteAsync(client, prompt);
    }

    private static async Task<string> CompleteAsync(HttpClient client, int[] prompt)
    {
        using var response = await client.PostAsJsonAsync("v1/completions", new { model = TestModel.Name, prompt, max_tokens = 12, temperature = 0, ignore_eos = true });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return (string)JsonNode.Parse(text)!["choices"]![0]!["text"]!;
    }
}
