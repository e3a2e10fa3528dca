using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Dynamo.Contracts;
using Dynamo.Gateway.Tests.Infrastructure;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// The disaggregation fallbacks that end in "the decode worker prefills locally", each seen in
/// <c>dynamo_frontend_disagg_prefills_total{path="local",reason}</c>: a prefill worker that does not answer within
/// <c>PrefillTimeout</c>, a pool at <c>MaxInflightPrefillsPerWorker</c> (<c>prefill_busy</c>), and a prompt mostly
/// cached on the decode worker (<c>cached_on_decode</c>). Mocker workers, real sockets.
/// </summary>
public sealed class DisaggregationFallbackTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static Dictionary<string, string?> Disagg(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Dynamo:Serve:Mode"] = "disagg",
            ["Dynamo:Serve:Workers"] = null,
            ["Dynamo:Serve:PrefillWorkers"] = "1",
            ["Dynamo:Serve:DecodeWorkers"] = "1",
            ["Dynamo:Gateway:Disaggregation:MinRemotePrefillTokens"] = "32",
            ["Dynamo:Gateway:Disaggregation:MinUncachedFraction"] = "0",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    private static int[] Prompt(int length, int salt) =>
        [.. Enumerable.Range(0, length).Select(i => 1 + ((i * 7919) + (salt * 104729)) % 50000)];

    /// <summary>Replaces the real prefill worker by <paramref name="peer"/>, registered as the model's only prefill worker.</summary>
    private static async Task<IAsyncDisposable> OnlyPrefillWorkerAsync(TestCluster cluster, FakePeer peer)
    {
        var real = cluster.Cluster.Workers.Single(w => w.Instance.Role == WorkerRole.Prefill);
        await real.StopAsync(CancellationToken.None);
        return await cluster.Cluster.Discovery.RegisterAsync(real.Instance with { InstanceId = "prefill-fake", Address = peer.Address });
    }

    [Fact]
    public async Task PrefillTimeout_APrefillWorkerThatNeverAnswers_IsGivenUpOnThenTheDecodeWorkerPrefills()
    {
        await using var cluster = await TestCluster.StartAsync(Disagg(("Dynamo:Gateway:Disaggregation:PrefillTimeout", "00:00:00.5")));
        await using var hung = new FakePeer(PeerMode.Silent);
        await using var registration = await OnlyPrefillWorkerAsync(cluster, hung);

        var clock = Stopwatch.StartNew();
        var first = await CompleteAsync(cluster, Prompt(100, 1));
        var waited = clock.Elapsed;
        var second = await CompleteAsync(cluster, Prompt(100, 2));

        Assert.Equal((4, 4), (first, second));
        Assert.True(waited >= TimeSpan.FromMilliseconds(450), $"answered after {waited.TotalMilliseconds:F0} ms: the prefill timeout was not waited for");
        var metrics = await cluster.Client.GetStringAsync("metrics");

        // A timeout is not a dead worker: it stays in the pool (a refused connection would have made the second
        // request 'no_prefill_worker'), so both requests tried it.
        Assert.Equal(2, ResilienceLimitsTests.MetricValue(metrics, "dynamo_frontend_disagg_prefills_total", "path=\"local\"", "reason=\"prefill_failed\""));
        Assert.Equal(0, ResilienceLimitsTests.MetricValue(metrics, "dynamo_frontend_disagg_prefills_total", "path=\"remote\""));
        Assert.Equal(2, hung.HeldRequests);
    }

    [Fact]
    public async Task PrefillBusy_WithThePoolAtItsInflightLimit_TheNextPromptIsPrefilledLocallyAtOnce()
    {
        await using var cluster = await TestCluster.StartAsync(Disagg(
            ("Dynamo:Gateway:Disaggregation:PrefillTimeout", "00:00:30"),
            ("Dynamo:Gateway:Disaggregation:MaxInflightPrefillsPerWorker", "1")));
        await using var hung = new FakePeer(PeerMode.Silent);
        await using var registration = await OnlyPrefillWorkerAsync(cluster, hung);

        // The first request holds the pool's only prefill slot: its prefill worker has the request and says nothing.
        var first = CompleteAsync(cluster, Prompt(100, 3));
        await hung.RequestSeen.WaitAsync(Timeout);

        var second = await CompleteAsync(cluster, Prompt(100, 4)).WaitAsync(Timeout);

        Assert.Equal(4, second);
        Assert.False(first.IsCompleted, "the first request is still waiting for its prefill");
        var metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Equal(1, ResilienceLimitsTests.MetricValue(metrics, "dynamo_frontend_disagg_prefills_total", "path=\"local\"", "reason=\"prefill_busy\""));

        // The hung prefill worker dies: the first request falls back too and completes.
        hung.DropHeldConnections();
        Assert.Equal(4, await first.WaitAsync(Timeout));
        metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Equal(1, ResilienceLimitsTests.MetricValue(metrics, "dynamo_frontend_disagg_prefills_total", "path=\"local\"", "reason=\"prefill_failed\""));
        Assert.Equal(1, hung.HeldRequests);
    }

    [Fact]
    public async Task CachedOnDecode_APromptMostlyHeldByTheDecodeWorker_IsPrefilledThere()
    {
        await using var cluster = await TestCluster.StartAsync(Disagg(("Dynamo:Gateway:Disaggregation:MinUncachedFraction", "0.7")));
        var shared = Prompt(160, 5);
        await CompleteAsync(cluster, shared);
        var metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Equal(1, ResilienceLimitsTests.MetricValue(metrics, "dynamo_frontend_disagg_prefills_total", "path=\"remote\""));

        // The shared 160 tokens are on the decode worker once the router has its KV events; then 48 new tokens are
        // enough for remote prefill (>= 32) but a small part of 208 (< 70 %). Until the events arrive a prompt goes
        // remote as before, so each try uses fresh tokens after the shared part.
        var clock = Stopwatch.StartNew();
        for (var salt = 100; ; salt++)
        {
            await CompleteAsync(cluster, [.. shared, .. Prompt(48, salt)]);
            metrics = await cluster.Client.GetStringAsync("metrics");
            if (ResilienceLimitsTests.MetricValue(metrics, "dynamo_frontend_disagg_prefills_total", "path=\"local\"", "reason=\"cached_on_decode\"") == 1)
            {
                break;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "no prompt sharing the decode worker's cached blocks was prefilled there within 10 s");
            await Task.Delay(50);
        }

        // The same 48 tokens with a fresh 160-token prefix are not cached anywhere: remote again.
        var remoteBefore = ResilienceLimitsTests.MetricValue(metrics, "dynamo_frontend_disagg_prefills_total", "path=\"remote\"");
        await CompleteAsync(cluster, [.. Prompt(160, 6), .. Prompt(48, 100)]);
        metrics = await cluster.Client.GetStringAsync("metrics");
        Assert.Equal(remoteBefore + 1, ResilienceLimitsTests.MetricValue(metrics, "dynamo_frontend_disagg_prefills_total", "path=\"remote\""));
    }

    /// <summary>A greedy 4-token completion; returns the completion tokens reported.</summary>
    private static async Task<int> CompleteAsync(TestCluster cluster, int[] prompt)
    {
        var body = new { model = cluster.Model, prompt, max_tokens = 4, temperature = 0, ignore_eos = true };
        using var response = await Json.PostAsync(cluster.Client, "v1/completions", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return (int)JsonNode.Parse(text)!["usage"]!["completion_tokens"]!;
    }
}
