using System.Net;
using System.Text.Json.Nodes;
using Dynamo.Contracts;
using Dynamo.Contracts.Discovery;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// The disaggregated path end to end on the real engine: the gateway prefills in the prefill pool, the decode
/// worker reads the prompt's KV through the in-process transfer agents and streams the rest. Greedy text must equal
/// the aggregated path's, and every failure on the prefill side must end in local prefill, not in an error.
/// </summary>
public sealed class DisaggregationTests
{
    private static Dictionary<string, string?> Settings(string mode, int minRemoteTokens = 32, double minUncachedFraction = 0.7) => new()
    {
        ["Dynamo:Serve:Engine"] = "dotnet",
        ["Dynamo:Serve:Mode"] = mode,
        ["Dynamo:Serve:Workers"] = mode == "agg" ? "1" : null,
        ["Dynamo:Serve:PrefillWorkers"] = "1",
        ["Dynamo:Serve:DecodeWorkers"] = "1",
        ["Dynamo:Engine:NumKvBlocks"] = "512",
        ["Dynamo:Gateway:Disaggregation:MinRemotePrefillTokens"] = minRemoteTokens.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Dynamo:Gateway:Disaggregation:MinUncachedFraction"] = minUncachedFraction.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static int[] Prompt(int length, int salt) =>
        [.. Enumerable.Range(0, length).Select(i => 1 + ((i * 7919) + (salt * 104729)) % 50000)];

    [Fact]
    public async Task Disaggregated_GreedyOutput_EqualsAggregated_IncludingPartlyCachedPrompts()
    {
        var prompts = new[] { Prompt(40, 1), Prompt(150, 2), Prompt(300, 3) };

        // The third and fourth share the first prompt's blocks: the decode worker holds those after the first request,
        // so only the rest moves (fraction 0 keeps them on the remote path despite the cached part).
        int[] extended = [.. prompts[0], .. Prompt(100, 4)];
        int[] extendedAgain = [.. extended, .. Prompt(60, 5)];
        var all = prompts.Append(extended).Append(extendedAgain).ToArray();

        var expected = new List<string>();
        await using (var agg = await TestCluster.StartAsync(Settings("agg")))
        {
            foreach (var prompt in all)
            {
                expected.Add(await CompleteAsync(agg, prompt, stream: false));
            }
        }

        await using var disagg = await TestCluster.StartAsync(Settings("disagg", minUncachedFraction: 0));
        for (var i = 0; i < all.Length; i++)
        {
            Assert.Equal(expected[i], await CompleteAsync(disagg, all[i], stream: i % 2 == 0));
        }

        var metrics = await disagg.Client.GetStringAsync("metrics");
        Assert.Contains($"dynamo_frontend_disagg_prefills_total{{path=\"remote\",reason=\"\"}} {all.Length}", metrics);
        var prefill = disagg.Cluster.Workers.Single(w => w.Instance.Role == WorkerRole.Prefill);
        var decode = disagg.Cluster.Workers.Single(w => w.Instance.Role == WorkerRole.Decode);
        using var http = new HttpClient();
        var decodeMetrics = await http.GetStringAsync(new Uri(decode.Address, "metrics"));
        Assert.Equal(all.Length, MetricValue(decodeMetrics, "dynamo_component_remote_prefills_total", "outcome=\"remote\""));
        Assert.True(MetricValue(decodeMetrics, "dynamo_component_kv_transfer_bytes_total") > 0);
        Assert.DoesNotContain("outcome=\"fallback\"", decodeMetrics);
        await WaitForAsync(async () => KvBlocksUsed(await http.GetStringAsync(new Uri(prefill.Address, "metrics"))) == 0,
            "the prefill worker to release every pinned block once the decode worker read it");
    }

    [Fact]
    public async Task MockerWorkers_TakeTheSamePath_AndMatchAggregated()
    {
        Dictionary<string, string?> Mocker(string mode)
        {
            var settings = Settings(mode);
            settings["Dynamo:Serve:Engine"] = "mocker";
            settings.Remove("Dynamo:Engine:NumKvBlocks");
            return settings;
        }

        var prompt = Prompt(120, 10);
        string expected;
        await using (var agg = await TestCluster.StartAsync(Mocker("agg")))
        {
            expected = await CompleteAsync(agg, prompt, stream: true);
        }

        await using var disagg = await TestCluster.StartAsync(Mocker("disagg"));
        Assert.Equal(expected, await CompleteAsync(disagg, prompt, stream: true));
        var metrics = await disagg.Client.GetStringAsync("metrics");
        Assert.Contains("dynamo_frontend_disagg_prefills_total{path=\"remote\",reason=\"\"} 1", metrics);
        var decode = disagg.Cluster.Workers.Single(w => w.Instance.Role == WorkerRole.Decode);
        using var http = new HttpClient();
        var decodeMetrics = await http.GetStringAsync(new Uri(decode.Address, "metrics"));
        Assert.Equal(1, MetricValue(decodeMetrics, "dynamo_component_remote_prefills_total", "outcome=\"remote\""));
    }

    [Fact]
    public async Task ShortOrCachedPrompts_ArePrefilledOnTheDecodeWorker()
    {
        await using var cluster = await TestCluster.StartAsync(Settings("disagg", minRemoteTokens: 100));
        var prompt = Prompt(160, 7);
        await CompleteAsync(cluster, Prompt(20, 6), stream: false);
        await CompleteAsync(cluster, prompt, stream: false);
        await CompleteAsync(cluster, [.. prompt, 5, 6, 7], stream: false);

        var metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Contains("dynamo_frontend_disagg_prefills_total{path=\"local\",reason=\"short_prompt\"} 2", metrics);
        Assert.Contains("dynamo_frontend_disagg_prefills_total{path=\"remote\",reason=\"\"} 1", metrics);
    }

    [Fact]
    public async Task UnreachablePrefillWorker_FallsBackToLocalPrefill_AndTheRequestCompletes()
    {
        // Every prompt goes to the prefill pool while one is up, even one the decode worker holds already.
        await using var cluster = await TestCluster.StartAsync(Settings("disagg", minRemoteTokens: 1, minUncachedFraction: 0));
        var prompt = Prompt(200, 8);
        var expected = await CompleteAsync(cluster, prompt, stream: false);

        // Only a dead prefill worker is left: its port refuses connections.
        var real = cluster.Cluster.Workers.Single(w => w.Instance.Role == WorkerRole.Prefill);
        await real.StopAsync(CancellationToken.None);
        await using var ghost = await cluster.Cluster.Discovery.RegisterAsync(real.Instance with { InstanceId = "prefill-ghost", Address = new Uri("http://127.0.0.1:1/") });

        Assert.Equal(expected, await CompleteAsync(cluster, prompt, stream: true));
        var metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Contains("dynamo_frontend_disagg_prefills_total{path=\"remote\",reason=\"\"} 1", metrics);
        Assert.Contains("dynamo_frontend_disagg_prefills_total{path=\"local\",reason=\"prefill_failed\"} 1", metrics);

        // The failed worker is out until its health probe passes: later requests do not wait on it.
        Assert.Equal(expected, await CompleteAsync(cluster, prompt, stream: false));
        metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Contains("dynamo_frontend_disagg_prefills_total{path=\"local\",reason=\"no_prefill_worker\"} 1", metrics);
    }

    [Fact]
    public async Task ClientKvTransferParams_AreIgnored()
    {
        await using var cluster = await TestCluster.StartAsync(Settings("disagg", minRemoteTokens: 10_000));
        var body = new
        {
            model = cluster.Model,
            prompt = Prompt(30, 9),
            max_tokens = 4,
            temperature = 0,
            kv_transfer_params = new { do_remote_prefill = true, remote_agent = "prefill-0", transfer_id = "x", remote_region = 1, remote_block_ids = new[] { 0, 1 }, block_size = 16, block_bytes = 8192, prompt_tokens = 30, first_token = 5 },
        };
        using var response = await cluster.Client.PostAsync("v1/completions", Json.Body(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Null(json["kv_transfer_params"]);
        Assert.Equal(4, (int)json["usage"]!["completion_tokens"]!);
    }

    /// <summary>
    /// Issue 12, finding 6: clients that leave while their prompts are being prefilled remotely must not leave the
    /// prompts' blocks pinned until the pin timeout (30 s): the pins go within 1 s of the burst of disconnects.
    /// </summary>
    [Fact]
    public async Task FiftyClientsLeavingDuringRemotePrefill_ReleaseEveryPinWithinOneSecond()
    {
        var settings = Settings("disagg", minRemoteTokens: 32, minUncachedFraction: 0);
        settings["Dynamo:Gateway:Disaggregation:MaxInflightPrefillsPerWorker"] = "64";
        await using var cluster = await TestCluster.StartAsync(settings);
        var prefill = cluster.Cluster.Workers.Single(w => w.Instance.Role == WorkerRole.Prefill);
        using var http = new HttpClient();
        async Task<(double Pinned, double Used)> PrefillBlocksAsync()
        {
            var metrics = await http.GetStringAsync(new Uri(prefill.Address, "metrics"));
            return (MetricValue(metrics, "dynamo_component_kv_pinned_blocks"), KvBlocksUsed(metrics));
        }

        Assert.Equal((0, 0), await PrefillBlocksAsync());

        // A client that leaves closes its connection (no draining of the unread response to reuse it).
        using var clients = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0, MaxConnectionsPerServer = 256 }) { BaseAddress = cluster.Address };
        using var leave = new CancellationTokenSource();
        var requests = Enumerable.Range(0, 50).Select(async i =>
        {
            try
            {
                var body = new { model = cluster.Model, prompt = Prompt(300, 100 + i), max_tokens = 400, temperature = 0, ignore_eos = true, stream = true };
                using var response = await clients.PostAsync("v1/completions", Json.Body(body), leave.Token);
                await response.Content.ReadAsStringAsync(leave.Token);
                return true;
            }
            catch (Exception e) when (e is OperationCanceledException or HttpRequestException && leave.IsCancellationRequested)
            {
                return false;
            }
        }).ToArray();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await PrefillBlocksAsync()).Pinned == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "no prompt was ever pinned on the prefill worker");
            await Task.Delay(2);
        }

        await leave.CancelAsync();
        var left = System.Diagnostics.Stopwatch.StartNew();
        Assert.Contains(false, await Task.WhenAll(requests));
        (double Pinned, double Used) blocks;
        while ((blocks = await PrefillBlocksAsync()) != (0, 0))
        {
            Assert.True(left.Elapsed < TimeSpan.FromSeconds(1),
                $"{blocks.Pinned} blocks still pinned ({blocks.Used} used) on the prefill worker {left.Elapsed.TotalMilliseconds:F0} ms after 50 clients left");
            await Task.Delay(10);
        }

        // Gateway calls that were cut off mid-prefill told the prefill worker to release (the worker's own checks and
        // the pin timeout are the other paths).
        Assert.True(MetricValue(await cluster.Client.GetStringAsync("metrics"), "dynamo_frontend_kv_pin_releases_total", "reason=\"client_gone\"") > 0);
    }

    private static async Task<string> CompleteAsync(TestCluster cluster, int[] prompt, bool stream)
    {
        var body = new { model = cluster.Model, prompt, max_tokens = 12, temperature = 0, ignore_eos = true, stream };
        using var response = await cluster.Client.PostAsync("v1/completions", Json.Body(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        if (!stream)
        {
            return (string)JsonNode.Parse(text)!["choices"]![0]!["text"]!;
        }

        var result = new System.Text.StringBuilder();
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal))
            {
                Assert.True(line.Length == 0 || line == "data: [DONE]", line);
                continue;
            }

            var chunk = JsonNode.Parse(line["data: ".Length..])!;
            Assert.Null(chunk["error"]);
            if (chunk["choices"] is JsonArray { Count: > 0 } choices)
            {
                result.Append((string?)choices[0]!["text"]);
            }
        }

        return result.ToString();
    }

    private static double KvBlocksUsed(string metrics) => MetricValue(metrics, "dynamo_component_kv_blocks_used");

    /// <summary>The value of the one sample of <paramref name="name"/> whose labels contain every fragment.</summary>
    private static double MetricValue(string metrics, string name, params string[] labelFragments) =>
        metrics.Split('\n')
            .Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
            .Where(l => labelFragments.All(f => l.Contains(f, StringComparison.Ordinal)))
            .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .Single();

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }
}
